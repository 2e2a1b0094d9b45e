// Command etcd is etcd's server, built from its Go module: etcd's own main package
// lives in a module with replace directives, which a dependency cannot use.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
