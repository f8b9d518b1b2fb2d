package order

import "time"

// SetClock makes s read the time from now; for tests that need orders
// created at known, distinct times.
func SetClock(s *Service, now func() time.Time) { s.now = now }
