package discovery

import "time"

// ResolverStats is what the resolvers of one Builder did, for tests.
type ResolverStats struct {
	Lists, ListFailures                             int64
	Compacted, WatchFailed, WatchClosed, ResolveNow int64
}

// StatsOf reads the counters of every resolver b built.
func StatsOf(b *Builder) ResolverStats {
	s := &b.stats
	return ResolverStats{
		Lists: s.lists.Load(), ListFailures: s.listFailures.Load(),
		Compacted: s.compacted.Load(), WatchFailed: s.watchFailed.Load(),
		WatchClosed: s.watchClosed.Load(), ResolveNow: s.resolveNow.Load(),
	}
}

// SetListBackoff sets the spacing of failing lists.
func SetListBackoff(b *Builder, first, largest time.Duration) {
	b.listBackoffFirst, b.listBackoffMax = first, largest
}

// SetResolveNowEvery sets the shortest time between ResolveNow lists.
func SetResolveNowEvery(b *Builder, d time.Duration) { b.resolveNowEvery = d }

// DecodeInstance is decodeInstance, for the fuzz test.
var DecodeInstance = decodeInstance
