// Command etcd is etcd v3.7.3 built from its Go module, so that shopmesh can
// make an etcd image without pulling from a registry (see deploy/images.sh).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
