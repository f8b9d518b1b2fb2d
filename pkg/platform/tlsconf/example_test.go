package tlsconf_test

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

func ExampleSPIFFEID() {
	fmt.Println(tlsconf.SPIFFEID("inventory"))
	// Output: spiffe://shopmesh/inventory
}

// order calls inventory over mutual TLS: order checks that the server is
// inventory, and inventory learns from the handshake that the caller is
// order, the name its authorisation decides on.
func Example() {
	// In a service the directory is mounted (deploy/certs in dev); here a
	// throw-away PKI stands in for it.
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	leaves := []devpki.Leaf{{Name: "order"}, {Name: "inventory"}}
	if _, err := devpki.Generate(dir, leaves, devpki.Options{}); err != nil {
		log.Fatal(err)
	}

	// At start-up, each process loads its own identity once.
	inventory, err := tlsconf.Load(dir, "inventory")
	if err != nil {
		log.Fatal(err)
	}
	order, err := tlsconf.Load(dir, "order")
	if err != nil {
		log.Fatal(err)
	}

	// grpcx wraps these configs in gRPC credentials; plain TLS over a pipe
	// shows the same handshake.
	serverConn, clientConn := net.Pipe()
	defer serverConn.Close()
	defer clientConn.Close()
	server := tls.Server(serverConn, inventory.ServerConfig())
	client := tls.Client(clientConn, order.ClientConfig("inventory"))

	clientErr := make(chan error, 1)
	go func() { clientErr <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		log.Fatal(err)
	}
	if err := <-clientErr; err != nil {
		log.Fatal(err)
	}

	caller, err := tlsconf.PeerService(server.ConnectionState())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("inventory is called by", caller)
	// Output: inventory is called by order
}
