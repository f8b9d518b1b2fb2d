package settings_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestReader_DefaultsAndValues(t *testing.T) {
	t.Parallel()
	s := settings.New(env(map[string]string{
		"NAME": " shop ", "WAIT": "150ms", "COUNT": "7", "RATIO": "0.5", "ON": "true",
		"MODE": "off", "PEERS": "a=x, b = y ,",
	}))
	if got := s.String("NAME", "d"); got != "shop" {
		t.Errorf("String: got %q", got)
	}
	if got := s.String("UNSET", "d"); got != "d" {
		t.Errorf("String default: got %q", got)
	}
	if got := s.Duration("WAIT", time.Second); got != 150*time.Millisecond {
		t.Errorf("Duration: got %v", got)
	}
	if got := s.Duration("UNSET", time.Second); got != time.Second {
		t.Errorf("Duration default: got %v", got)
	}
	if got := s.Int("COUNT", 1); got != 7 {
		t.Errorf("Int: got %d", got)
	}
	if got := s.Float("RATIO", 1); got != 0.5 {
		t.Errorf("Float: got %v", got)
	}
	if got := s.Bool("ON", false); !got {
		t.Errorf("Bool: got %v", got)
	}
	if got := s.OneOf("MODE", "adaptive", "adaptive", "off"); got != "off" {
		t.Errorf("OneOf: got %q", got)
	}
	if got := s.Pairs("PEERS"); len(got) != 2 || got["a"] != "x" || got["b"] != "y" {
		t.Errorf("Pairs: got %v", got)
	}
	s.Retired("OLD", "why")
	if err := s.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
}

// Every problem is reported at once, each naming its variable.
func TestReader_CollectsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := settings.Read(env(map[string]string{
		"WAIT": "soon", "COUNT": "many", "RATIO": "Inf", "ON": "maybe", "MODE": "fast",
		"PEERS": "a", "OLD": "1",
	}), func(s *settings.Reader) int {
		s.Duration("WAIT", 0)
		s.Int("COUNT", 0)
		s.Float("RATIO", 0)
		s.Bool("ON", false)
		s.OneOf("MODE", "adaptive", "adaptive", "off")
		s.Pairs("PEERS")
		s.Retired("OLD", "replaced by NEW")
		s.Required("URL", "postgres://db/x")
		s.Check(false, "LIMIT %d: too small", 1)
		return 0
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"WAIT", "COUNT", "RATIO", "ON", "MODE", "PEERS", "OLD is no longer read: replaced by NEW", "URL is required (e.g. postgres://db/x)", "LIMIT 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRead_ReturnsWhatWasRead(t *testing.T) {
	t.Parallel()
	got, err := settings.Read(env(map[string]string{"COUNT": "3"}), func(s *settings.Reader) int { return s.Int("COUNT", 1) })
	if err != nil || got != 3 {
		t.Errorf("got %d, %v; want 3", got, err)
	}
}
