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

func TestValidateMeta(t *testing.T) {
	many := make(map[string]string)
	for i := range MaxMetaEntries + 1 {
		many[strings.Repeat("k", i+1)] = ""
	}
	for _, c := range []struct {
		name   string
		meta   map[string]string
		bad    bool
		tooBig bool
	}{
		{name: "none", meta: nil},
		{name: "a trace context", meta: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		{name: "an empty value", meta: map[string]string{"k": ""}},
		{name: "the largest size", meta: map[string]string{"k": strings.Repeat("v", MaxMetaSize-1)}},
		{name: "an empty key", meta: map[string]string{"": "v"}, bad: true},
		{name: "a key with a newline", meta: map[string]string{"a\nb": "v"}, bad: true},
		{name: "a key too long", meta: map[string]string{strings.Repeat("k", MaxNameLen+1): "v"}, bad: true},
		{name: "too many entries", meta: many, bad: true, tooBig: true},
		{name: "one byte too many", meta: map[string]string{"k": strings.Repeat("v", MaxMetaSize)}, bad: true, tooBig: true},
	} {
		err := ValidateJobFields(&NewJob{Name: "n", Meta: c.meta}, 0)
		if !c.bad {
			if err != nil {
				t.Errorf("%s: %v, want nil", c.name, err)
			}
			continue
		}
		if err == nil || err.Field != "Meta" || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge) != c.tooBig {
			t.Errorf("%s: %v, want a *ValidationError on Meta (ErrTooLarge: %v)", c.name, err, c.tooBig)
		}
	}
}
