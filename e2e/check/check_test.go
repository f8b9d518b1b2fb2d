package check

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/e2e/load"
)

func TestPromises_Refusals(t *testing.T) {
	t.Parallel()
	confirmed := []Order{{ID: "ord_1", Status: "CONFIRMED"}}
	outcome := func(statuses ...int) Outcome {
		p := load.Placement{Key: "k", Status: statuses[len(statuses)-1]}
		for _, s := range statuses {
			p.Attempts = append(p.Attempts, load.Attempt{Status: s})
		}
		return Outcome{Placement: p, Orders: confirmed}
	}
	for name, tt := range map[string]struct {
		o      Outcome
		broken bool
	}{
		// Only refusals: nothing was done, so a CONFIRMED order breaks it.
		"503 only":     {outcome(http.StatusServiceUnavailable), true},
		"503 then 503": {outcome(http.StatusServiceUnavailable, http.StatusServiceUnavailable), true},
		"429 then 503": {outcome(http.StatusTooManyRequests, http.StatusServiceUnavailable), true},
		// The first attempt's outcome was unknown: its order may exist.
		"504 then 503":       {outcome(http.StatusGatewayTimeout, http.StatusServiceUnavailable), false},
		"no answer then 429": {outcome(0, http.StatusTooManyRequests), false},
		"a final 504":        {outcome(http.StatusGatewayTimeout), false},
	} {
		err := Promises([]Outcome{tt.o})
		if (err != nil) != tt.broken {
			t.Errorf("%s: got %v, want broken=%v", name, err, tt.broken)
		}
		if err != nil && !strings.Contains(err.Error(), "its attempts [") {
			t.Errorf("%s: %v does not list the attempts", name, err)
		}
	}
}
