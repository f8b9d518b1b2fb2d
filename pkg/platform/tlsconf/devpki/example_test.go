package devpki_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// A test mints a PKI for the identities it needs; tlsconf.Load then reads it.
func ExampleGenerate() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	leaves := []devpki.Leaf{{Name: "order"}, {Name: "inventory"}}
	res, err := devpki.Generate(dir, leaves, devpki.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, path := range res.Written {
		fmt.Println("wrote", filepath.Base(path))
	}

	// A second run finds everything valid and writes nothing.
	res, err = devpki.Generate(dir, leaves, devpki.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rewritten:", len(res.Written))
	// Output:
	// wrote ca-key.pem
	// wrote ca.pem
	// wrote order-key.pem
	// wrote order.pem
	// wrote inventory-key.pem
	// wrote inventory.pem
	// rewritten: 0
}
