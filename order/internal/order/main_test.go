package order_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine has an owner that stops it (STYLE.md): the recovery
// loop's included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
