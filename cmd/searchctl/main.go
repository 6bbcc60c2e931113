// Command searchctl is Stacksearch's command-line client: it searches, shows
// the index's status and drives reindexes over gRPC.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "searchctl:", err)
		os.Exit(1)
	}
}
