package dashboard

import (
	"crypto/subtle"
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
