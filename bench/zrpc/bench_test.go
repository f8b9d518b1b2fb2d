// Package zrpc_test measures a peer framework's hop against bare grpc-go in a
// module of its own, outside go.work, so that go-zero and what it requires
// never enter shopmesh's build.
package zrpc_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/zrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// BenchmarkPeerHop measures what one unary hop costs through go-zero's zrpc,
// with the server and the client a go-zero service gets by default (see
// zrpcHop), against the same call over bare grpc-go with the same mTLS
// identities: a peer row for BenchmarkHop's ×mTLS-platform
// (pkg/platform/grpcx/hop_bench_test.go). The call is the same (inventory's
// GetProduct on a fake server, as order) and is made the same way, with a 5 s
// deadline, in a trace of its own, one trace in ten sampled, so that the two
// ratios compare. Each row runs the call one at a time (ns/op, allocs/op). The
// last sub-benchmark, ratio, takes turns between the rows, 200 calls each,
// and reports zrpc's time as a multiple of bare mTLS: a machine whose speed
// drifts between sub-benchmarks moves both rows alike there
// (docs/benchmarks.md).
//
//	cd bench/zrpc && GOWORK=off go test -run '^$' -bench PeerHop -benchmem .
func BenchmarkPeerHop(b *testing.B) {
	p := newPKI(b)
	rows := []struct {
		name  string
		setup func(b *testing.B) inventoryv1.InventoryServiceClient
	}{
		{"bare-mTLS", func(b *testing.B) inventoryv1.InventoryServiceClient {
			server, client := p.id(b, "inventory"), p.id(b, "order")
			return bareHop(b, credentials.NewTLS(server.ServerConfig()), credentials.NewTLS(client.ClientConfig("inventory")))
		}},
		{"zrpc", func(b *testing.B) inventoryv1.InventoryServiceClient { return zrpcHop(b, p) }},
	}
	for _, row := range rows {
		b.Run(row.name+"/serial", func(b *testing.B) {
			client := row.setup(b)
			req := &inventoryv1.GetProductRequest{Id: "p-1001"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := hopCall(client, req); err != nil {
					b.Fatal(err)
				}
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
					if err := hopCall(client, req); err != nil {
						b.Fatal(err)
					}
				}
				spent[i] += time.Since(start)
			}
		}
		const base = 0 // bare-mTLS
		for i, row := range rows {
			if i != base {
				b.ReportMetric(float64(spent[i])/float64(spent[base]), "×mTLS-"+row.name)
			}
		}
	})
}

// zrpcHop serves the fake inventory with zrpc.NewServer and returns a client
// through zrpc.NewClient, both with what a go-zero service gets by default.
//
// Both configs are loaded from YAML, as a service loads etc/*.yaml, because
// go-zero's defaults live in its config structs' tags: a config built as a Go
// literal would have every middleware off. The YAML names only what goctl's
// template names, less etcd: the server's Name and ListenOn, the client's
// Endpoints. What that turns on, in go-zero v1.10.3:
//
//   - server, unary interceptors in this order: tracing (a span per call,
//     recording if sampled), recover, stat (every call logged at info with its request as JSON,
//     calls over 500 ms as slow, and a per-minute stats line), prometheus,
//     breaker (Google SRE breaker per method), adaptive load shedding (Mode
//     pro, CPU threshold 900‰), timeout (2 s, the handler run in a goroutine
//     of its own); the gRPC health service; connections closed after 5 min
//     idle;
//   - client, unary interceptors in this order: tracing, duration (logs
//     failed calls and calls over 500 ms), prometheus, breaker, timeout (2 s,
//     sooner than the 5 s deadline hopCall sets, so it becomes each call's
//     deadline); a non-blocking dial; the p2c_ewma balancer over the direct
//     endpoints;
//   - logx: JSON at info, stat logs on, to the console, here io.Discard;
//   - tracing: go-zero's agent installs an SDK tracer provider sampling
//     parent-based (new traces at ratio 0) and, with no Telemetry.Endpoint,
//     no exporter, so the sampled calls' spans are made and dropped at End;
//   - prometheus: both interceptors run, but go-zero records its metrics only
//     once Prometheus.Host or DevServer is configured, and neither is by
//     default, so they record nothing.
//
// mTLS goes through the options go-zero offers for it, as in bareHop: the
// server's grpc.Creds through AddOptions, the client's credentials through
// zrpc.WithTransportCredentials (RpcServerConf and RpcClientConf have no TLS
// fields of their own).
func zrpcHop(b *testing.B, p pki) inventoryv1.InventoryServiceClient {
	b.Helper()
	// zrpc listens on the address its config names and tells no one which
	// port it got, so it is given one that is free now.
	addr := freeAddr(b)
	var serverConf zrpc.RpcServerConf
	if err := conf.LoadFromYamlBytes([]byte("Name: inventory\nListenOn: "+addr+"\n"), &serverConf); err != nil {
		b.Fatal(err)
	}
	registered := make(chan *grpc.Server, 1)
	srv, err := zrpc.NewServer(serverConf, func(s *grpc.Server) {
		inventoryv1.RegisterInventoryServiceServer(s, &fakeInventory{})
		registered <- s
	})
	if err != nil {
		b.Fatal(err)
	}
	// NewServer set logx up as a service's is; what it writes goes to
	// io.Discard instead of the terminal, as BenchmarkHop's JSON logs do, so
	// that formatting the lines is measured and the terminal is not.
	logx.SetWriter(logx.NewWriter(io.Discard))
	srv.AddOptions(grpc.Creds(credentials.NewTLS(p.id(b, "inventory").ServerConfig())))
	failed := make(chan any, 1)
	go func() {
		// Start panics if it cannot listen; after Serve returns it waits for
		// go-zero's shutdown listeners, which only a signal calls, so this
		// goroutine outlives the benchmark, parked.
		defer func() {
			if r := recover(); r != nil {
				failed <- r
			}
		}()
		srv.Start()
	}()
	// Start registers the services once it listens and before it serves:
	// from then on a connection is accepted.
	var gs *grpc.Server
	select {
	case gs = <-registered:
	case r := <-failed:
		b.Fatalf("zrpc server: %v", r)
	}
	// RpcServer.Stop only closes logx; the grpc.Server is stopped directly,
	// as bareHop stops its own.
	b.Cleanup(gs.Stop)

	var clientConf zrpc.RpcClientConf
	if err := conf.LoadFromYamlBytes([]byte("Endpoints:\n  - "+addr+"\n"), &clientConf); err != nil {
		b.Fatal(err)
	}
	client, err := zrpc.NewClient(clientConf,
		zrpc.WithTransportCredentials(credentials.NewTLS(p.id(b, "order").ClientConfig("inventory"))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Conn().Close() })
	return inventoryv1.NewInventoryServiceClient(client.Conn())
}

// bareHop serves the fake inventory on a plain grpc.Server and returns a
// plain client of it: grpc-go and nothing else.
func bareHop(b *testing.B, serverCreds, clientCreds credentials.TransportCredentials) inventoryv1.InventoryServiceClient {
	b.Helper()
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

// traces numbers the traces hopCall makes its calls in.
var traces atomic.Uint64

// hopCall makes one call as BenchmarkHop's hopCall does for its platform row:
// with its own deadline, in a trace of its own as if it served a request, one
// trace in ten sampled. go-zero samples parent-based too, so it makes spans
// for the same calls as the platform does.
func hopCall(client inventoryv1.InventoryServiceClient, req *inventoryv1.GetProductRequest) error {
	const sampleEvery = 10
	n := traces.Add(1)
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[8:], n)
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, Remote: true}
	if n%sampleEvery == 0 {
		cfg.TraceFlags = trace.FlagsSampled
	}
	ctx, cancel := context.WithTimeout(trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg)), 5*time.Second)
	defer cancel()
	_, err := client.GetProduct(ctx, req)
	return err
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(b *testing.B) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = lis.Close() }()
	return lis.Addr().String()
}

// pki is a fresh dev PKI with the identities of the hop: inventory serves,
// order calls.
type pki struct{ dir string }

func newPKI(b *testing.B) pki {
	b.Helper()
	dir := b.TempDir()
	if _, err := devpki.Generate(dir, devpki.Named("order", "inventory"), devpki.Options{}); err != nil {
		b.Fatalf("generate dev PKI: %v", err)
	}
	return pki{dir: dir}
}

// id loads service's identity.
func (p pki) id(b *testing.B, service string) *tlsconf.Identity {
	b.Helper()
	id, err := tlsconf.Load(p.dir, service)
	if err != nil {
		b.Fatalf("load identity %q: %v", service, err)
	}
	return id
}

// fakeInventory answers GetProduct with the product asked for, as
// BenchmarkHop's fake does.
type fakeInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
}

func (*fakeInventory) GetProduct(_ context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
}
