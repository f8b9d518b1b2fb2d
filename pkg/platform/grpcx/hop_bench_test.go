package grpcx_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
)

// BenchmarkHop measures what one unary hop costs through the platform
// (grpcx.NewServer and grpcx.Conns, with telemetry set up as the services
// set it up) against the same call over bare grpc-go, plaintext and with the
// same mTLS identities. Every call carries a deadline (5 s), as every call in
// shopmesh must, bare ones included, and is made in a trace of its own, as a
// hop between services is. Each row runs the call one at a time (ns/op,
// allocs/op) and from 16 goroutines at once (p50 and p99 of single calls).
// The last sub-benchmark, ratio, takes turns between the rows, 200 calls
// each, and reports each row's time as a multiple of bare mTLS: a machine
// whose speed drifts between sub-benchmarks (a virtual machine's neighbours)
// moves every row alike there (docs/benchmarks.md).
//
//	go test -run '^$' -bench Hop -benchmem ./pkg/platform/grpcx/
func BenchmarkHop(b *testing.B) {
	p := newPKI(b)
	// Each call is made inside a request's trace, as a hop between services
	// is: one in sampleEvery of those traces is sampled.
	rows := []struct {
		name        string
		sampleEvery int
		setup       func(b *testing.B) inventoryv1.InventoryServiceClient
	}{
		{"bare-plaintext", 10, func(b *testing.B) inventoryv1.InventoryServiceClient { return bareHop(b, nil, nil) }},
		{"bare-mTLS", 10, func(b *testing.B) inventoryv1.InventoryServiceClient {
			server, client := p.id(b, "inventory"), p.id(b, "order")
			return bareHop(b, credentials.NewTLS(server.ServerConfig()), credentials.NewTLS(client.ClientConfig("inventory")))
		}},
		// As the services run: JSON logs at info, 10 % of traces sampled.
		{"platform", 10, func(b *testing.B) inventoryv1.InventoryServiceClient {
			return platformHop(b, p, "0.1")
		}},
		{"platform-always-traced", 1, func(b *testing.B) inventoryv1.InventoryServiceClient {
			return platformHop(b, p, "1")
		}},
	}
	for _, row := range rows {
		b.Run(row.name+"/serial", func(b *testing.B) {
			client := row.setup(b)
			req := &inventoryv1.GetProductRequest{Id: "p-1001"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := hopCall(client, req, row.sampleEvery); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(row.name+"/concurrent", func(b *testing.B) {
			client := row.setup(b)
			var mu sync.Mutex
			var all []time.Duration
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := &inventoryv1.GetProductRequest{Id: "p-1001"}
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					if err := hopCall(client, req, row.sampleEvery); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(all) > 0 {
				slices.Sort(all)
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
	b.Run("ratio", func(b *testing.B) {
		clients := make([]inventoryv1.InventoryServiceClient, len(rows))
		for i, row := range rows {
			clients[i] = row.setup(b)
		}
		req := &inventoryv1.GetProductRequest{Id: "p-1001"}
		spent := make([]time.Duration, len(rows))
		for b.Loop() {
			for i, client := range clients {
				// Each turn starts on a collected heap, so a row's garbage
				// is collected during its own turns, not its neighbour's.
				runtime.GC()
				start := time.Now()
				for range 200 {
					if err := hopCall(client, req, rows[i].sampleEvery); err != nil {
						b.Fatal(err)
					}
				}
				spent[i] += time.Since(start)
			}
		}
		const base = 1 // bare-mTLS
		for i, row := range rows {
			if i != base {
				b.ReportMetric(float64(spent[i])/float64(spent[base]), "×mTLS-"+row.name)
			}
		}
	})
}

// traces numbers the traces hopCall makes its calls in.
var traces atomic.Uint64

// hopCall makes one call with its own deadline, in a trace of its own as if
// it served a request, sampled once in sampleEvery traces.
func hopCall(client inventoryv1.InventoryServiceClient, req *inventoryv1.GetProductRequest, sampleEvery int) error {
	n := traces.Add(1)
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[8:], n)
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, Remote: true}
	if n%uint64(sampleEvery) == 0 {
		cfg.TraceFlags = trace.FlagsSampled
	}
	ctx, cancel := context.WithTimeout(trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg)), 5*time.Second)
	defer cancel()
	_, err := client.GetProduct(ctx, req)
	return err
}

// bareHop serves the fake inventory on a plain grpc.Server and returns a
// plain client of it: grpc-go and nothing else.
func bareHop(b *testing.B, serverCreds, clientCreds credentials.TransportCredentials) inventoryv1.InventoryServiceClient {
	b.Helper()
	if serverCreds == nil {
		serverCreds, clientCreds = insecure.NewCredentials(), insecure.NewCredentials()
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(serverCreds))
	inventoryv1.RegisterInventoryServiceServer(srv, &fakeInventory{})
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
	})
	return inventoryv1.NewInventoryServiceClient(cc)
}

// platformHop sets telemetry up as a service does (JSON logs at info,
// parent-based sampling of ratio, spans batched to an exporter that drops
// them), then serves the fake inventory with grpcx.NewServer and returns a
// client through grpcx.Conns.
func platformHop(b *testing.B, p pki, ratio string) inventoryv1.InventoryServiceClient {
	b.Helper()
	b.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	b.Setenv("OTEL_TRACES_SAMPLER_ARG", ratio)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		Service: "inventory", Getenv: func(string) string { return "" }, LogWriter: io.Discard,
	})
	if err != nil {
		b.Fatal(err)
	}
	// What the OTLP exporter's batcher does, minus the network.
	tel.TracerProvider.(*sdktrace.TracerProvider).RegisterSpanProcessor(sdktrace.NewBatchSpanProcessor(discardSpans{}))
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	// The server and the client options bootstrap gives every service:
	// budgets, the adaptive limit, caller rules; retries of idempotent calls.
	_, addr := startServer(b, p.id(b, "inventory"), &fakeInventory{},
		grpcx.WithServerLogger(tel.Logger), grpcx.WithAllowedCallers(reserveOnlyOrder),
		grpcx.WithServerBudgets(api.Budgets), grpcx.WithLimiter(overload.New(overload.Options{Name: "inventory", Logger: tel.Logger})))
	return inventoryClient(b, newConns(b, p.id(b, "order"), addr, grpcx.WithConnsLogger(tel.Logger),
		grpcx.WithBudgets(api.Budgets), grpcx.WithPolicy("inventory", grpcx.Policy{Retryable: api.Idempotent["inventory"]})))
}

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
