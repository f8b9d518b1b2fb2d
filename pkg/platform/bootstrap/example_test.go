package bootstrap_test

import (
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
)

// A service's run function reads the shared settings through the getenv it
// was given (os.Getenv in main, a map in tests); every bad variable is named.
func ExampleLoadConfig() {
	env := map[string]string{
		"ETCD_ENDPOINTS":       "https://etcd:2379",
		"GRPC_DEFAULT_TIMEOUT": "750ms",
	}
	cfg, err := bootstrap.LoadConfig("inventory", func(k string) string { return env[k] })
	fmt.Println(cfg.ListenAddr, cfg.DefaultTimeout, cfg.EtcdEndpoints, err)

	env["LOG_LEVEL"] = "loud"
	_, err = bootstrap.LoadConfig("inventory", func(k string) string { return env[k] })
	fmt.Println(err)
	// Output:
	// :8080 750ms [https://etcd:2379] <nil>
	// config of inventory: LOG_LEVEL="loud": want debug, info, warn or error
}
