package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shopmesh/shopmesh/e2e/stack"
)

// browser drives the storefront in a real headless Chromium (Debian's
// package) over the DevTools protocol, and keeps a screenshot of every step.
type browser struct {
	t   *testing.T
	ctx context.Context //shopmesh:allow ctxparam a chromedp context is the browser tab itself, alive for the whole test
	dir string          // where the screenshots go
	n   int
}

// chromiumPath finds the browser: CHROMIUM when set, else chromium on PATH.
// In CI its absence fails the test; elsewhere the test is skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (apt-get install chromium, or set CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + ": the browser tests must run in CI")
	}
	t.Skip(msg + "; skipping the browser tests outside CI")
	return ""
}

// artifactsDir is where a run keeps its screenshots: E2E_ARTIFACTS_DIR, or
// e2e/artifacts (ignored by git).
func artifactsDir(t *testing.T, name string) string {
	t.Helper()
	root := os.Getenv("E2E_ARTIFACTS_DIR")
	if root == "" {
		root = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts Chromium for t with a desktop-sized window; it
// is closed when t ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.WindowSize(1280, 1000),
		// Root in a container or a CI machine has no user namespace for
		// Chromium's sandbox; the pages are the project's own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, dir: artifactsDir(t, fileName(t.Name()))}
}

// step runs actions within 30 s and saves a screenshot named after the
// step, whether they worked or not; a step that failed names its
// screenshot.
func (b *browser) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	b.n++
	shot := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, fileName(name)))
	sctx, scancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer scancel()
	if png, serr := chromedp.Run(sctx, chromedp.FullScreenshot(100)); serr == nil {
		if werr := os.WriteFile(shot, png, 0o644); werr != nil {
			b.t.Logf("screenshot %s: %v", shot, werr)
		}
	}
	if err != nil {
		b.t.Fatalf("step %q: %v (screenshot: %s)", name, err, shot)
	}
	b.t.Logf("step %q done (screenshot: %s)", name, shot)
}

// fileName makes a file name of a test's or a step's name.
func fileName(name string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// text reads an element's text content.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v (the last screenshot is in %s)", sel, err, b.dir)
	}
	return s
}

// Selectors of the storefront (gateway/internal/storefront/site).
func productSel(id string) string { return fmt.Sprintf(`li[data-product=%q]`, id) }
func orderRowSel(id, status string) string {
	return fmt.Sprintf(`tr[data-order=%q][data-status=%q]`, id, status)
}

var orderIDIn = regexp.MustCompile(`Order (\S+) `)

// testStorefront buys, is declined, double-clicks and cancels in the
// storefront as a shopper would, and checks each outcome in the system's
// own records: the order's state, the stock, the provider's charges, the
// spans of the trace the page shows.
func testStorefront(t *testing.T, s *stack.Stack) {
	base := s.GatewayURL
	api := newClient(t, base)
	ctx := t.Context()
	b := newBrowser(t)
	const shopper = "carol"
	bearer := map[string]string{"Authorization": stack.Bearer(shopper)}
	ordersOf := func() map[string]string {
		var list struct {
			Orders []order `json:"orders"`
		}
		if status, _ := api.do(ctx, http.MethodGet, "/v1/orders?page_size=100", bearer, nil, &list); status != http.StatusOK {
			t.Fatalf("list %s's orders: %d", shopper, status)
		}
		m := map[string]string{}
		for _, o := range list.Orders {
			m[o.ID] = o.Status
		}
		return m
	}
	addToCart := func(product string, qty int) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SetValue(chromedp.ID("qty-"+product), fmt.Sprint(qty)),
			click(productSel(product)+" button"),
			waitVisible(fmt.Sprintf(`tr[data-cart=%q]`, product)),
		)
	}
	card := func(token string) chromedp.Action[chromedp.Void] {
		return click(fmt.Sprintf(`input[name=card][value=%q]`, token))
	}

	b.step("open the shop", chromedp.Navigate(base+"/"), waitVisible(productSel("p-1001")))
	b.step("sign in as "+shopper,
		chromedp.SetValue(chromedp.ID("customer"), shopper),
		click("#signin button"),
		waitText("#who-name", shopper))

	var confirmedID string
	t.Run("a customer buys two items and sees CONFIRMED and the stock go down", func(t *testing.T) {
		b.t = t
		before1, before3 := api.product(ctx, "p-1001").Available, api.product(ctx, "p-1003").Available
		b.step("add two items", addToCart("p-1001", 2), addToCart("p-1003", 1))
		b.step("pay with the approved card", card("tok_visa"), click("#pay"),
			waitText("#notice", "confirmed"))
		confirmedID = orderID(t, b.text("#notice"))
		b.step("see it CONFIRMED", waitVisible(orderRowSel(confirmedID, "CONFIRMED")))
		if after := api.product(ctx, "p-1001").Available; after != before1-2 {
			t.Errorf("stock of p-1001 %d after buying 2, want %d", after, before1-2)
		}
		if after := api.product(ctx, "p-1003").Available; after != before3-1 {
			t.Errorf("stock of p-1003 %d after buying 1, want %d", after, before3-1)
		}
		b.step("the page shows the new stock", waitAttr(productSel("p-1001")+" .stock", "data-available", fmt.Sprint(before1-2)))
		if got := ordersOf()[confirmedID]; got != "CONFIRMED" {
			t.Errorf("the API says order %s is %q, want CONFIRMED", confirmedID, got)
		}
		// The trace id the page shows is the placement's: its spans reach
		// every service of the saga.
		traceID := strings.TrimPrefix(b.text(fmt.Sprintf(`tr[data-order=%q] td.trace code`, confirmedID)), "make trace ID=")
		waitForTrace(t, s, traceID, "gateway", "order", "inventory", "payment")
	})

	t.Run("a declined card shows the reason and the stock is back", func(t *testing.T) {
		b.t = t
		before := api.product(ctx, "p-1004").Available
		b.step("add an item", addToCart("p-1004", 1))
		b.step("pay with the declined card", card("tok_decline"), click("#pay"),
			waitText("#problem", "declined"))
		problem := b.text("#problem")
		m := regexp.MustCompile(`Order: (\S+)`).FindStringSubmatch(problem)
		if m == nil || !strings.Contains(problem, "nothing was charged") {
			t.Fatalf("the problem shown is %q, want the reason, that nothing was charged, and the order", problem)
		}
		b.step("see it declined", waitVisible(orderRowSel(m[1], "PAYMENT_DECLINED")))
		if after := api.product(ctx, "p-1004").Available; after != before {
			t.Errorf("stock of p-1004 %d after a declined order, want %d back", after, before)
		}
		for _, c := range newPaysim(t, s).charges(t) {
			if c.Key == "charge-"+m[1] && c.Status == "succeeded" {
				t.Errorf("the provider charged the declined order %s", m[1])
			}
		}
		b.step("empty the cart", click(`tr[data-cart="p-1004"] button`),
			waitVisible("#cart-empty"))
	})

	t.Run("a double click on Pay makes one order", func(t *testing.T) {
		b.t = t
		before := api.product(ctx, "p-1005").Available
		known := ordersOf()
		b.step("add an item", addToCart("p-1005", 3), card("tok_visa"))
		b.step("click Pay twice", evaluate(`(() => { const b = document.getElementById("pay"); b.click(); b.click(); return true; })()`, nil),
			click("#pay"), waitText("#notice", "confirmed"))
		id := orderID(t, b.text("#notice"))
		var added []string
		for o := range ordersOf() {
			if _, ok := known[o]; !ok {
				added = append(added, o)
			}
		}
		if len(added) != 1 || added[0] != id {
			t.Errorf("new orders %v, want exactly the one the page names (%s)", added, id)
		}
		if after := api.product(ctx, "p-1005").Available; after != before-3 {
			t.Errorf("stock of p-1005 %d, want %d: one order of 3", after, before-3)
		}
		charged := 0
		for _, c := range newPaysim(t, s).charges(t) {
			if c.Key == "charge-"+id {
				charged++
			}
		}
		if charged != 1 {
			t.Errorf("the provider holds %d charges for order %s, want 1", charged, id)
		}
	})

	t.Run("cancel returns the stock", func(t *testing.T) {
		b.t = t
		if confirmedID == "" {
			t.Fatal("no confirmed order to cancel (the first step failed)")
		}
		before1, before3 := api.product(ctx, "p-1001").Available, api.product(ctx, "p-1003").Available
		b.step("cancel the first order", click(fmt.Sprintf(`tr[data-order=%q] button`, confirmedID)),
			waitVisible(orderRowSel(confirmedID, "CANCELLED")))
		if after := api.product(ctx, "p-1001").Available; after != before1+2 {
			t.Errorf("stock of p-1001 %d after the cancellation, want %d", after, before1+2)
		}
		if after := api.product(ctx, "p-1003").Available; after != before3+1 {
			t.Errorf("stock of p-1003 %d after the cancellation, want %d", after, before3+1)
		}
		for _, c := range newPaysim(t, s).charges(t) {
			if c.Key == "charge-"+confirmedID && !c.Refunded {
				t.Errorf("order %s is cancelled but its charge is not refunded", confirmedID)
			}
		}
	})

	t.Run("the operator's page lists parked orders", func(t *testing.T) {
		b.t = t
		b.step("sign in as the operator", chromedp.Navigate(base+"/operator"), click("#signin button"),
			waitText("#who-name", "operator"))
		b.step("the list has loaded", poll(`document.getElementById("parked-empty").textContent === "No order is parked." || !document.getElementById("parked").hidden`))
	})

	t.Run("every control has a name and the keyboard reaches Pay", func(t *testing.T) {
		b.t = t
		b.step("back to the shop as "+shopper, chromedp.Navigate(base+"/"), waitVisible(productSel("p-1001")),
			click("#signout"), chromedp.SetValue(chromedp.ID("customer"), shopper), click("#signin button"),
			waitText("#who-name", shopper))
		// A control a screen reader cannot name: an input or select without a
		// label, a button without text or aria-label.
		var unnamed string
		b.step("name every control", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			unnamed, err = chromedp.Evaluate[string](`[...document.querySelectorAll("input:not([type=hidden]), select, button")]
				.filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || e.textContent.trim()))
				.map((e) => e.outerHTML).join("\n")`)(ctx, tg)
			return err
		}))
		if unnamed != "" {
			t.Errorf("controls without an accessible name:\n%s", unnamed)
		}
		// With an item in the cart, Tab alone reaches Pay.
		var reached bool
		b.step("tab to Pay", addToCart("p-1005", 1), evaluate(`(() => { document.activeElement.blur(); return true; })()`, nil),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				for range 60 {
					if _, err := chromedp.KeyEvent("\t")(ctx, tg); err != nil {
						return err
					}
					if id, err := chromedp.Evaluate[string](`document.activeElement.id`)(ctx, tg); err != nil || id == "pay" {
						reached = id == "pay"
						return err
					}
				}
				return nil
			}))
		if !reached {
			t.Error("Tab never reached the Pay button")
		}
		b.step("empty the cart", click(`tr[data-cart="p-1005"] button`), waitVisible("#cart-empty"))
	})

	t.Run("on a phone's width nothing overflows", func(t *testing.T) {
		phone := newBrowser(t)
		phone.step("open the shop as a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Navigate(base+"/"), waitVisible(productSel("p-1001")))
		var overflow bool
		phone.step("measure", evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
		if overflow {
			t.Error("the page is wider than a 390-pixel screen")
		}
	})
}

// orderID reads the order id out of the page's notice.
func orderID(t *testing.T, notice string) string {
	t.Helper()
	m := orderIDIn.FindStringSubmatch(notice)
	if m == nil {
		t.Fatalf("the notice %q names no order", notice)
	}
	return m[1]
}

// click and waitVisible act on the first element sel (CSS) finds.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// poll waits until the JavaScript predicate is true.
func poll(predicate string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
		return err
	})
}

// evaluate runs a script; with a non-nil out, its boolean result lands there.
func evaluate(script string, out *bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[bool](script)(ctx, t)
		if out != nil {
			*out = v
		}
		return err
	})
}

// waitText waits until sel's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return poll(fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").includes(%q)`, sel, want))
}

// waitAttr waits until sel's attribute name is value.
func waitAttr(sel, name, value string) chromedp.Action[chromedp.Void] {
	return poll(fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) === %q`, sel, name, value))
}
