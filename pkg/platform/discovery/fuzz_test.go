package discovery_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
)

// FuzzDecodeInstance feeds the registry's values to the decoder the
// resolver routes by: anyone who can write under /services/ chooses them,
// so whatever the key and value, decoding must not panic, and an instance
// it accepts must be routable and belong to its key (the value's address is
// the key's last part), as the resolver assumes. `go test` runs the seeds;
// `go test -fuzz FuzzDecodeInstance ./pkg/platform/discovery/` explores
// further.
func FuzzDecodeInstance(f *testing.F) {
	const prefix = "/services/inventory/"
	for _, seed := range []struct{ key, value string }{
		{prefix + "10.0.0.7:7001", `{"addr":"10.0.0.7:7001","version":"v1","started_at":"2026-12-05T10:00:00Z"}`},
		{prefix + "10.0.0.7:7001", `{"addr":"10.0.0.8:7001"}`},
		{prefix + "[::1]:7001", `{"addr":"[::1]:7001","weight":3}`},
		{prefix + "h:0", `{"addr":"h:0"}`},
		{prefix + ":7001", `{"addr":":7001"}`},
		{prefix + "h:1", `{"addr":"h:1","weight":-1}`},
		{prefix + "h:1", `{"addr":"h:1","started_at":"yesterday"}`},
		{prefix + "h:1", `{"addr":"h:1","weight":1e400}`},
		{prefix + "h:1", `{"addr":"h:1"}{"addr":"evil:1"}`},
		{"/services/payment/h:1", `{"addr":"h:1"}`},
		{prefix, `{"addr":""}`},
		{prefix + "h:1", `null`},
		{prefix + "h:1", ``},
		{prefix + "h:1", "\xff"},
		{prefix + "h:1", strings.Repeat("[", 10000)},
	} {
		f.Add(seed.key, []byte(seed.value))
	}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		in, err := discovery.DecodeInstance(key, value, prefix)
		if err != nil {
			return
		}
		if verr := in.Validate(); verr != nil {
			t.Fatalf("accepted %q → %q: %+v, which does not validate: %v", key, value, in, verr)
		}
		if key != prefix+in.Addr {
			t.Fatalf("accepted %q → %q: address %q is not the key's", key, value, in.Addr)
		}
		// What the registrar would write for it decodes to the same.
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := discovery.DecodeInstance(key, again, prefix)
		if err != nil || back.Addr != in.Addr || back.Weight != in.Weight || !back.StartedAt.Equal(in.StartedAt) {
			t.Fatalf("%+v re-encoded as %s decodes to %+v, %v", in, again, back, err)
		}
	})
}
