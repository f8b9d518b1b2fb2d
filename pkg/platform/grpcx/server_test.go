package grpcx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

func TestServer_Authorization(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	fake := &fakeInventory{}
	_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithAllowedCallers(reserveOnlyOrder))

	t.Run("allowed caller", func(t *testing.T) {
		client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))
		resp, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
		if err != nil {
			t.Fatalf("order calling Reserve: %v, want success", err)
		}
		if len(resp.GetLines()) != 1 {
			t.Errorf("got %d reserved lines, want 1", len(resp.GetLines()))
		}
	})

	t.Run("caller not in the rule", func(t *testing.T) {
		before := fake.reserveCalls.Load()
		client := inventoryClient(t, newConns(t, p.id(t, "gateway"), addr))
		_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
		st := wantCode(t, "gateway calling Reserve", err, codes.PermissionDenied)
		if !strings.Contains(st.Message(), `"gateway"`) {
			t.Errorf("PermissionDenied message %q does not name the caller", st.Message())
		}
		if got := fake.reserveCalls.Load() - before; got != 0 {
			t.Errorf("Reserve handler ran %d times for a denied caller, want 0", got)
		}
	})

	t.Run("method without a rule is denied", func(t *testing.T) {
		client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))
		_, err := client.ListProducts(callCtx(t, 5*time.Second), &inventoryv1.ListProductsRequest{})
		wantCode(t, "ListProducts with no rule", err, codes.PermissionDenied)
	})

	t.Run("AnyCaller admits every authenticated caller", func(t *testing.T) {
		for _, caller := range []string{"gateway", "payment", "admin"} {
			client := inventoryClient(t, newConns(t, p.id(t, caller), addr))
			resp, err := client.GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{Id: "p1"})
			if err != nil {
				t.Fatalf("%s calling GetProduct: %v, want success", caller, err)
			}
			if resp.GetProduct().GetId() != "p1" {
				t.Errorf("%s calling GetProduct: got product %q, want p1", caller, resp.GetProduct().GetId())
			}
		}
	})

	t.Run("client without a certificate", func(t *testing.T) {
		before := fake.getCalls.Load()
		cfg := p.id(t, "order").ClientConfig("inventory")
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{}, nil // present none
		}
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatalf("grpc.NewClient: %v", err)
		}
		defer cc.Close()
		_, err = inventoryv1.NewInventoryServiceClient(cc).GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{Id: "p1"})
		wantCode(t, "GetProduct without a client certificate", err, codes.Unavailable)
		if got := fake.getCalls.Load() - before; got != 0 {
			t.Errorf("GetProduct handler ran %d times for an unauthenticated client, want 0", got)
		}
	})
}

func TestServer_AuthorizationRules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// The whole service is for order, except GetProduct, which gateway may
	// call too: the longer key wins. Health is restricted to order, to
	// exercise the stream interceptor with Watch.
	rules := map[string][]string{
		"/inventory.v1.InventoryService/":                      {"order"},
		inventoryv1.InventoryService_GetProduct_FullMethodName: {"gateway", "order"},
		// Health stays open whatever the rules say: every client
		// health-checks the instances it balances over.
		"/grpc.health.v1.Health/": {"order"},
	}
	_, addr := startServer(t, p.id(t, "inventory"), &fakeInventory{}, grpcx.WithAllowedCallers(rules))

	gateway := rawConn(t, p.id(t, "gateway"), addr)
	order := rawConn(t, p.id(t, "order"), addr)

	tests := []struct {
		name string
		cc   *grpc.ClientConn
		call func(ctx context.Context, cc *grpc.ClientConn) error
		want codes.Code
	}{
		{"gateway GetProduct (longest rule)", gateway, getProduct, codes.OK},
		{"gateway Reserve (service rule)", gateway, reserve, codes.PermissionDenied},
		{"order Reserve (service rule)", order, reserve, codes.OK},
		{"gateway health Watch (stream)", gateway, healthWatch, codes.OK},
		{"order health Watch (stream)", order, healthWatch, codes.OK},
		{"gateway health Check (unary)", gateway, healthCheck, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(callCtx(t, 5*time.Second), tt.cc)
			if tt.want == codes.OK {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			wantCode(t, tt.name, err, tt.want)
		})
	}
}

func TestServer_AuthorizationRulesMatchWholeMethods(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// "/inventory.v1.InventoryService/Get" is not a method: it must not
	// lend gateway GetProduct, which the service rule keeps for order.
	rules := map[string][]string{
		"/inventory.v1.InventoryService/":    {"order"},
		"/inventory.v1.InventoryService/Get": {"gateway", "order"},
	}
	fake := &fakeInventory{}
	_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithAllowedCallers(rules))

	err := getProduct(callCtx(t, 5*time.Second), rawConn(t, p.id(t, "gateway"), addr))
	wantCode(t, "gateway GetProduct under a rule for a method-name prefix", err, codes.PermissionDenied)
	if n := fake.getCalls.Load(); n != 0 {
		t.Errorf("GetProduct handler ran %d times for a denied caller, want 0", n)
	}
}

func getProduct(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := inventoryv1.NewInventoryServiceClient(cc).GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "p1"})
	return err
}

func reserve(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := inventoryv1.NewInventoryServiceClient(cc).Reserve(ctx, reserveReq())
	return err
}

func healthCheck(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// healthWatch opens a Watch stream and reads its first status.
func healthWatch(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

func TestServer_Errors(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var logs logBuffer
	fake := &fakeInventory{}
	fake.reserve = func(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
		switch req.GetOrderId() {
		case "out-of-stock":
			return nil, apperr.New(apperr.FailedPrecondition, "product %s is short", "p1").WithReason("OUT_OF_STOCK", "order_id", "o1")
		case "secret":
			return nil, errSecret
		case "wrapped-secret":
			return nil, errors.Join(errors.New("reserve"), errSecret)
		case "panic":
			panic("handler bug: " + errSecret.Error())
		case "db-restarting":
			return nil, fmt.Errorf("reserve: %w", errRestarting)
		case "db-slow":
			// The store's own hop budget ran out; the call's did not.
			hop, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			<-hop.Done()
			return nil, fmt.Errorf("reserve: %w", hop.Err())
		}
		return &inventoryv1.ReserveResponse{}, nil
	}
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	// The classifier a service with a database sets: a lost connection is
	// transient, not a bug.
	classify := func(err error) error {
		if errors.Is(err, errRestarting) {
			return apperr.New(apperr.Unavailable, "database unavailable").WithCause(err)
		}
		return err
	}
	_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithServerLogger(logger), grpcx.WithErrorClassifier(classify))
	client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))

	reserveOrder := func(t *testing.T, orderID string) error {
		t.Helper()
		_, err := client.Reserve(callCtx(t, 5*time.Second), &inventoryv1.ReserveRequest{OrderId: orderID})
		return err
	}

	t.Run("domain error keeps its code, reason and metadata", func(t *testing.T) {
		err := reserveOrder(t, "out-of-stock")
		st := wantCode(t, "Reserve out of stock", err, codes.FailedPrecondition)
		if st.Message() != "product p1 is short" {
			t.Errorf("got message %q, want %q", st.Message(), "product p1 is short")
		}
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if info == nil {
			t.Fatalf("status %v carries no ErrorInfo detail", st.Proto())
		}
		if info.GetReason() != "OUT_OF_STOCK" || info.GetMetadata()["order_id"] != "o1" {
			t.Errorf("got ErrorInfo reason %q metadata %v, want OUT_OF_STOCK with order_id=o1", info.GetReason(), info.GetMetadata())
		}

		domain := grpcx.FromStatus(err)
		if got := apperr.CodeOf(domain); got != apperr.FailedPrecondition {
			t.Errorf("CodeOf(FromStatus(err)) = %q, want %q", got, apperr.FailedPrecondition)
		}
		if got := apperr.ReasonOf(domain); got != "OUT_OF_STOCK" {
			t.Errorf("ReasonOf(FromStatus(err)) = %q, want OUT_OF_STOCK", got)
		}
		var e *apperr.Error
		if !errors.As(domain, &e) || e.Metadata["order_id"] != "o1" {
			t.Errorf("FromStatus(err) = %#v, want metadata order_id=o1", domain)
		}
	})

	for _, orderID := range []string{"secret", "wrapped-secret"} {
		t.Run("unknown error becomes Internal without its detail/"+orderID, func(t *testing.T) {
			err := reserveOrder(t, orderID)
			st := wantCode(t, "Reserve failing with "+orderID, err, codes.Internal)
			if strings.Contains(st.Message(), "secret") || strings.Contains(err.Error(), "secret") {
				t.Errorf("client saw %q: the cause of an internal error leaked to the caller", err)
			}
			if !strings.Contains(logs.String(), "secret db password") {
				t.Errorf("server log does not record the cause of the internal error; log:\n%s", logs.String())
			}
		})
	}

	t.Run("a transient failure the classifier names is Unavailable, its cause only logged", func(t *testing.T) {
		err := reserveOrder(t, "db-restarting")
		st := wantCode(t, "Reserve while the database restarts", err, codes.Unavailable)
		if strings.Contains(st.Message(), "57P01") {
			t.Errorf("client saw the database's own error in %q", st.Message())
		}
		if !strings.Contains(logs.String(), "57P01") {
			t.Errorf("server log does not record the cause; log:\n%s", logs.String())
		}
	})

	t.Run("a dependency's hop budget running out is Unavailable, not the caller's deadline", func(t *testing.T) {
		err := reserveOrder(t, "db-slow")
		wantCode(t, "Reserve whose store call timed out", err, codes.Unavailable)
	})

	t.Run("panic becomes Internal and the server keeps serving", func(t *testing.T) {
		err := reserveOrder(t, "panic")
		st := wantCode(t, "Reserve panicking", err, codes.Internal)
		if strings.Contains(st.Message(), "secret") {
			t.Errorf("client saw panic value in %q", st.Message())
		}
		if !strings.Contains(logs.String(), "panic in gRPC handler") {
			t.Errorf("server log does not record the panic; log:\n%s", logs.String())
		}
		if err := reserveOrder(t, "fine"); err != nil {
			t.Fatalf("call after a panic: %v, want success", err)
		}
	})
}

func TestServer_Deadline(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const defaultDeadline = 3 * time.Second
	const minBudget = 50 * time.Millisecond
	type seen struct {
		remaining time.Duration
		ok        bool
	}
	seenc := make(chan seen, 10)
	fake := &fakeInventory{}
	fake.getProduct = func(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
		dl, ok := ctx.Deadline()
		seenc <- seen{time.Until(dl), ok}
		return &inventoryv1.GetProductResponse{}, nil
	}
	fake.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
		dl, ok := ctx.Deadline()
		seenc <- seen{time.Until(dl), ok}
		return &inventoryv1.ReserveResponse{}, nil
	}
	const reserveCap = 700 * time.Millisecond
	_, addr := startServer(t, p.id(t, "inventory"), fake,
		grpcx.WithDefaultDeadline(defaultDeadline), grpcx.WithMinBudget(minBudget),
		grpcx.WithServerBudgets(map[string]time.Duration{inventoryv1.InventoryService_Reserve_FullMethodName: reserveCap}))
	// A raw connection: the Conns hop timeout would give every call a deadline.
	client := inventoryv1.NewInventoryServiceClient(rawConn(t, p.id(t, "order"), addr))

	t.Run("call without a deadline gets the default", func(t *testing.T) {
		if _, err := client.GetProduct(context.Background(), &inventoryv1.GetProductRequest{}); err != nil {
			t.Fatalf("GetProduct without deadline: %v", err)
		}
		s := <-seenc
		if !s.ok {
			t.Fatal("handler saw no deadline, want the server's default")
		}
		if s.remaining > defaultDeadline || s.remaining < defaultDeadline-time.Second {
			t.Errorf("handler saw %v left, want about %v", s.remaining, defaultDeadline)
		}
	})

	t.Run("call of a method with a budget gets the budget, asked or not", func(t *testing.T) {
		for _, ctx := range []context.Context{context.Background(), callCtx(t, time.Minute)} {
			if _, err := client.Reserve(ctx, reserveReq()); err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			s := <-seenc
			if !s.ok || s.remaining > reserveCap || s.remaining < reserveCap/2 {
				t.Errorf("handler saw %v left (deadline set: %v), want just under the method's %v", s.remaining, s.ok, reserveCap)
			}
		}
	})

	t.Run("call with its own deadline keeps it", func(t *testing.T) {
		if _, err := client.GetProduct(callCtx(t, time.Second), &inventoryv1.GetProductRequest{}); err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		s := <-seenc
		if !s.ok || s.remaining > time.Second || s.remaining < 500*time.Millisecond {
			t.Errorf("handler saw %v left (deadline set: %v), want just under the caller's 1s", s.remaining, s.ok)
		}
	})

	t.Run("call below the minimum budget is refused", func(t *testing.T) {
		before := fake.getCalls.Load()
		_, err := client.GetProduct(callCtx(t, 20*time.Millisecond), &inventoryv1.GetProductRequest{})
		st := wantCode(t, "GetProduct with 20ms left", err, codes.DeadlineExceeded)
		// The server's own refusal, not the client giving up on its own.
		if !strings.Contains(st.Message(), "minimum") {
			t.Errorf("got message %q, want the server's refusal naming the minimum budget", st.Message())
		}
		if got := fake.getCalls.Load() - before; got != 0 {
			t.Errorf("handler ran %d times for a call below the minimum budget, want 0", got)
		}
	})
}

func TestServer_Stop(t *testing.T) {
	t.Parallel()

	// slowServer serves a Reserve that signals entered and then waits for
	// release or its context.
	slowServer := func(t *testing.T) (*grpcx.Server, inventoryv1.InventoryServiceClient, chan struct{}, chan struct{}) {
		t.Helper()
		p := newPKI(t)
		entered, release := make(chan struct{}, 1), make(chan struct{})
		fake := &fakeInventory{}
		fake.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
			entered <- struct{}{}
			select {
			case <-release:
				return &inventoryv1.ReserveResponse{}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		srv, addr := startServer(t, p.id(t, "inventory"), fake)
		return srv, inventoryv1.NewInventoryServiceClient(rawConn(t, p.id(t, "order"), addr)), entered, release
	}

	t.Run("in-flight call finishes within the deadline", func(t *testing.T) {
		t.Parallel()
		srv, client, entered, release := slowServer(t)
		callErr := make(chan error, 1)
		go func() {
			_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
			callErr <- err
		}()
		<-entered

		stopErr := make(chan error, 1)
		go func() { stopErr <- srv.Stop(callCtx(t, 5*time.Second)) }()
		select {
		case err := <-stopErr:
			t.Fatalf("Stop returned %v while a call was in flight, want it to wait", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-callErr; err != nil {
			t.Errorf("in-flight call: %v, want success", err)
		}
		if err := <-stopErr; err != nil {
			t.Errorf("Stop: %v, want nil", err)
		}
	})

	t.Run("in-flight call is forced when the deadline passes", func(t *testing.T) {
		t.Parallel()
		srv, client, entered, _ := slowServer(t)
		callErr := make(chan error, 1)
		go func() {
			_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
			callErr <- err
		}()
		<-entered

		start := time.Now()
		err := srv.Stop(callCtx(t, 100*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop: %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
			t.Errorf("Stop took %v, want about 100ms", d)
		}
		select {
		case err := <-callErr:
			wantCode(t, "call cut by a forced stop", err, codes.Unavailable)
		case <-time.After(3 * time.Second):
			t.Fatal("in-flight call still running 3s after a forced stop")
		}
	})
}

func TestServer_SetServing(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv, addr := startServer(t, p.id(t, "inventory"), &fakeInventory{})
	// A raw connection: Conns' client-side health checking would refuse to
	// send anything to a NOT_SERVING server, the Check included.
	health := healthpb.NewHealthClient(rawConn(t, p.id(t, "order"), addr))

	check := func(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := health.Check(callCtx(t, 5*time.Second), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if resp.GetStatus() != want {
			t.Errorf("Check(%q) = %v, want %v", service, resp.GetStatus(), want)
		}
	}
	services := []string{"", inventoryv1.InventoryService_ServiceDesc.ServiceName}

	srv.SetServing(true)
	for _, s := range services {
		check(t, s, healthpb.HealthCheckResponse_SERVING)
	}
	srv.SetServing(false)
	for _, s := range services {
		check(t, s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	srv.SetServing(true)
	for _, s := range services {
		check(t, s, healthpb.HealthCheckResponse_SERVING)
	}
}

// TestServer_CallLog: a call that succeeds quickly is logged at debug, so a
// service at info writes no line for it; a failed call is logged at info or
// above, with the trace id the log handler stamps.
func TestServer_CallLog(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	fake := &fakeInventory{}
	fake.reserve = func(context.Context, *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
		return nil, apperr.New(apperr.FailedPrecondition, "product p1 is short")
	}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var logs logBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))
			_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithServerLogger(logger), grpcx.WithAllowedCallers(reserveOnlyOrder))
			client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))
			if _, err := client.GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{Id: "p1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq()); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("Reserve: %v, want FailedPrecondition", err)
			}
			out := logs.String()
			if !strings.Contains(out, "level=INFO msg=\"grpc call\" method=/inventory.v1.InventoryService/Reserve code=FailedPrecondition") {
				t.Errorf("the failed call is not logged at info:\n%s", out)
			}
			okLogged := strings.Contains(out, "method=/inventory.v1.InventoryService/GetProduct code=OK")
			if want := level == slog.LevelDebug; okLogged != want {
				t.Errorf("at %v, successful call logged = %v, want %v:\n%s", level, okLogged, want, out)
			}
		})
	}
}

// TestServer_RegisterService: over mutual TLS, a service on a server
// without caller rules, or whose methods the rules do not all name, is
// refused at registration, before it can serve; rules that name each
// method or the whole service let it register.
func TestServer_RegisterService(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	register := func(rules map[string][]string) (panicked string) {
		srv := grpcx.NewServer(p.id(t, "inventory"), grpcx.WithServerLogger(discardLogger()), grpcx.WithAllowedCallers(rules))
		defer srv.Server.Stop()
		defer func() {
			if r := recover(); r != nil {
				panicked = fmt.Sprint(r)
			}
		}()
		inventoryv1.RegisterInventoryServiceServer(srv, &fakeInventory{})
		return ""
	}
	if got := register(nil); !strings.Contains(got, "without caller rules") {
		t.Errorf("registered over mutual TLS without rules: panic %q, want a refusal", got)
	}
	got := register(reserveOnlyOrder)
	for _, want := range []string{inventoryv1.InventoryService_ListProducts_FullMethodName, inventoryv1.InventoryService_SetStock_FullMethodName} {
		if !strings.Contains(got, want) {
			t.Errorf("registered with rules for two methods: panic %q, want it to name %s", got, want)
		}
	}
	if strings.Contains(got, inventoryv1.InventoryService_Reserve_FullMethodName) {
		t.Errorf("panic %q names Reserve, which has a rule", got)
	}
	whole := map[string][]string{"/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/": {"order"}}
	if got := register(whole); got != "" {
		t.Errorf("a rule for the whole service: panic %q, want none", got)
	}
	closed := maps.Clone(reserveOnlyOrder)
	for _, m := range inventoryv1.InventoryService_ServiceDesc.Methods {
		full := "/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/" + m.MethodName
		if _, ok := closed[full]; !ok {
			closed[full] = nil // named, and open to no caller
		}
	}
	if got := register(closed); got != "" {
		t.Errorf("a rule for every method: panic %q, want none", got)
	}
}
