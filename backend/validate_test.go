package backend

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// FuzzQueueName checks that a queue name is accepted only when it can be
// part of a Redis hash tag and a bbolt bucket name, and that a rejected one
// gets a *ValidationError.
func FuzzQueueName(f *testing.F) {
	for _, s := range []string{"mail", "", "a{b}", "has space", "tab\t", "nul\x00", "emails:high", "ü", strings.Repeat("q", MaxNameLen+1), "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateQueueName(name)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Field != "Queue" {
				t.Fatalf("ValidateQueueName(%q) = %v, want a *ValidationError on Queue", name, err)
			}
			return
		}
		if name == "" || len(name) > MaxNameLen || strings.ContainsAny(name, "{}") ||
			strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("ValidateQueueName accepted %q", name)
		}
	})
}
