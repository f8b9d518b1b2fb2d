package httpapi

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiters_BoundedMemory(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("at most maxClients, the least recently seen goes", func(t *testing.T) {
		t.Parallel()
		l := newLimiters(1, 1, 3)
		for i := range 10 {
			l.allow(fmt.Sprintf("ip:%d", i), start.Add(time.Duration(i)*time.Millisecond))
		}
		if got := l.len(); got != 3 {
			t.Fatalf("got %d clients tracked, want 3", got)
		}
		// ip:9 is still tracked with an empty bucket; ip:0 was evicted and
		// starts afresh.
		if ok, _ := l.allow("ip:9", start.Add(20*time.Millisecond)); ok {
			t.Error("ip:9 was forgotten, want it kept as one of the 3 most recent")
		}
		if ok, _ := l.allow("ip:0", start.Add(20*time.Millisecond)); !ok {
			t.Error("ip:0 still limited, want it evicted and given a fresh bucket")
		}
	})

	t.Run("idle clients are forgotten, the others kept", func(t *testing.T) {
		t.Parallel()
		l := newLimiters(1, 1, 1000)
		for i := range 100 {
			l.allow(fmt.Sprintf("ip:%d", i), start)
		}
		l.allow("ip:recent", start.Add(l.idleAfter))
		l.allow("ip:fresh", start.Add(l.idleAfter+time.Second))
		if got := l.len(); got != 2 {
			t.Errorf("got %d clients after all but one idled, want 2 (the recent one and the fresh one)", got)
		}
	})

	t.Run("Retry-After is the wait for the next token", func(t *testing.T) {
		t.Parallel()
		l := newLimiters(0.5, 1, 10)
		if ok, _ := l.allow("k", start); !ok {
			t.Fatal("first request refused")
		}
		ok, wait := l.allow("k", start)
		if ok || wait < 1900*time.Millisecond || wait > 2*time.Second {
			t.Errorf("got ok=%v wait=%v, want refused with a wait of 2s", ok, wait)
		}
		// A refused request does not spend the token it waited for.
		if ok, _ := l.allow("k", start.Add(2*time.Second)); !ok {
			t.Error("refused after the wait, want the token back")
		}
	})
}

// BenchmarkLimiters_NewClientWhenFull: a request from a client not seen
// before, with the table full (the default 100,000 clients), as under load
// from many shoppers. Constant time: it was a scan of the whole table.
func BenchmarkLimiters_NewClientWhenFull(b *testing.B) {
	const clients = 100_000
	l := newLimiters(20, 40, clients)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range clients {
		l.allow(fmt.Sprintf("sub:%d", i), now)
	}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("sub:new-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.allow(keys[i%len(keys)], now)
		i++
	}
}

func TestClientNet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.7"}, // IPv4, mapped: the address itself
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := clientNet(tc.ip); got != tc.want {
			t.Errorf("clientNet(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}
