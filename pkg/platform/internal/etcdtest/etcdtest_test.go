package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMember_RestartKeepsDataAndEndpoint(t *testing.T) {
	m := etcdtest.Start(t)
	cli := m.Client(t)
	if _, err := cli.Put(t.Context(), "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}

	start := time.Now()
	m.Stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stop took %v: open streams should be cut, not drained", took)
	}
	if m.Running() {
		t.Fatal("running after Stop")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := cli.Get(ctx, "k")
	cancel()
	if err == nil {
		t.Fatal("get succeeded while the member was stopped")
	}

	start = time.Now()
	m.Restart(t)
	t.Logf("restart took %v", time.Since(start))
	etcdtest.Eventually(t, 5*time.Second, "the old client reads the old data", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, "k")
		return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "v"
	})
}

func TestCluster_SurvivesLeaderKill(t *testing.T) {
	start := time.Now()
	c := etcdtest.StartCluster(t, 3)
	t.Logf("3-member cluster ready in %v", time.Since(start))
	cli := c.Client(t)
	if _, err := cli.Put(t.Context(), "k", "1"); err != nil {
		t.Fatalf("put: %v", err)
	}

	old := c.Leader(t)
	start = time.Now()
	old.Kill()
	next := c.Leader(t)
	t.Logf("killed leader %s, %s leads after %v", old.Name, next.Name, time.Since(start))
	if next == old {
		t.Fatalf("%s still leads after it was killed", old.Name)
	}
	etcdtest.Eventually(t, 5*time.Second, "write after failover", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "k", "2")
		return err == nil
	})

	old.Restart(t)
	resp, err := old.Client(t).Get(t.Context(), "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("restarted member reads %v, %v; want k=2", resp, err)
	}
	// A graceful stop hands leadership over.
	l := c.Leader(t)
	l.Stop()
	if next := c.Leader(t); next == l {
		t.Fatalf("%s still leads after Stop", l.Name)
	}
}
