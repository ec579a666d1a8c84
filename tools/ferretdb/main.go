// Command tessera-ferretdb runs an embedded FerretDB v1 (SQLite backend) for development and tests.
// Tessera's `npm start` launches it when no MONGODB_URI is configured; it prints the MongoDB URI
// on its first stdout line ("READY mongodb://...") and serves until SIGINT/SIGTERM (or, with
// -exit-on-stdin-eof, until its launcher ends and so closes its standard input). Beside FerretDB
// it runs the keeper (keeper.go), which makes _id lookups use an index and purges expired documents.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on")
	dir := flag.String("dir", "", "directory that holds the SQLite files (created if missing)")
	poll := flag.Duration("index-poll", 100*time.Millisecond, "how often to look for new collections to index")
	purge := flag.Duration("purge-interval", time.Minute, "how often to delete expired documents (0: never)")
	withParent := flag.Bool("exit-on-stdin-eof", false, "stop when standard input closes: the process that launched this one ended, even by a crash")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "tessera-ferretdb: -dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "tessera-ferretdb:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *withParent {
		// the launcher holds our stdin open while it lives; a crash (SIGKILL, out of memory) closes
		// it, and the database stops with it instead of holding the data directory for nobody
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/",
		Logger:    logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tessera-ferretdb:", err)
		os.Exit(1)
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	go newKeeper(*dir, logger).run(ctx, *poll, *purge)

	fmt.Println("READY", f.MongoDBURI())

	if err := <-done; err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "tessera-ferretdb:", err)
		os.Exit(1)
	}
}
