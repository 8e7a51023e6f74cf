package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// errForbidden is the cause of a refused action: read-only, another
// origin, or no valid token.
var errForbidden = errors.New("forbidden")

// tokenField is the form field, and tokenHeader the header, that carry
// the handler's anti-CSRF token.
const (
	tokenField  = "csrf"
	tokenHeader = "X-Drover-Csrf"
)

// checkAction refuses an action unless the handler allows actions, the
// request comes from a page of the same origin, and it carries the
// handler's token. Two checks, because each has a gap the other closes:
// browsers too old to send Sec-Fetch-Site or Origin are stopped by the
// token, which a page of another origin cannot read; and the origin check
// holds even if a token leaked into a log or a screenshot.
func (h *handler) checkAction(r *http.Request) error {
	if h.opts.ReadOnly {
		return fmt.Errorf("%w: the dashboard is read-only", errForbidden)
	}
	if err := h.cop.Check(r); err != nil {
		return fmt.Errorf("%w: %w", errForbidden, err)
	}
	tok := r.Header.Get(tokenHeader)
	if tok == "" {
		tok = r.PostFormValue(tokenField)
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(h.token)) != 1 {
		return fmt.Errorf("%w: the form's token is missing or stale; reload the page and try again", errForbidden)
	}
	return nil
}

// sign returns the tag that shows msg, the outcome of an action that a
// page reports, came from this handler: a link from elsewhere cannot put
// words of its own in a page.
func (h *handler) sign(msg string) string {
	m := hmac.New(sha256.New, []byte(h.token))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// flash returns the outcome of the action that led to r, if the handler
// signed it.
func (h *handler) flash(r *http.Request) string {
	q := r.URL.Query()
	msg := q.Get("done")
	if msg == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(h.sign(msg))) {
		return ""
	}
	return msg
}
