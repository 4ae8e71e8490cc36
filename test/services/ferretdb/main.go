// Command nebula-ferretdb runs FerretDB v1 (embedded, SQLite handler) as the MongoDB-wire
// server of Nebula's test suites. It exists because the upstream CLI built from the module
// zip panics on its missing build/version/version.txt; as the main module, this wrapper
// skips that check (see test/services/ferretdb.sh and test/services/README.md).
//
//	nebula-ferretdb --data-dir /tmp/nebula-ferretdb [--listen-addr 127.0.0.1:27017] [--log-level warn]
//
// Exits 0 on SIGTERM/SIGINT, non-zero on any other error (bad flags, address in use...).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "nebula-ferretdb: %s\n", err)
		os.Exit(1)
	}
}

func run() error {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", "", "directory of the SQLite databases (created if missing; required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	if *dataDir == "" {
		return fmt.Errorf("--data-dir is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	// Telemetry: the embedded package disables and locks it itself.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/", // trailing "/" required: a directory, one file per database
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// The listener is already bound (ferretdb.New): say so once, whatever the log level.
	// (MongoDBURI() is not called: before Run it may deadlock.)
	fmt.Fprintf(os.Stderr, "nebula-ferretdb: listening on %s, data in %s\n", *listenAddr, dir)

	if err = f.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return fmt.Errorf("FerretDB stopped on its own")
	}
	fmt.Fprintf(os.Stderr, "nebula-ferretdb: stopped\n")
	return nil
}
