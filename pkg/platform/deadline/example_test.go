package deadline_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// A caller with 2s left that needs 300ms after the call for itself gives a
// hop whose cap is 5s at most 1.7s.
func ExampleHop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	ctx = deadline.Keep(ctx, 300*time.Millisecond) // to record the result afterwards
	hop, done, err := deadline.Hop(ctx, 5*time.Second)
	if err != nil {
		fmt.Println("not started:", err)
		return
	}
	defer done()
	dl, _ := hop.Deadline()
	fmt.Println(time.Until(dl).Round(100 * time.Millisecond))
	// Output: 1.7s
}
