// Command ferretdb runs an embedded FerretDB (SQLite backend) on loopback so that
// tests and `npm run dev` have a MongoDB-protocol server on machines without mongod.
//
// It prints one line `READY mongodb://127.0.0.1:PORT/` on stdout once it accepts
// connections, and stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free one)")
	dir := flag.String("dir", "", "directory for the SQLite files (required)")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	// Immediate transactions take SQLite's write lock at BEGIN, so concurrent writers wait
	// (busy_timeout, raised to a minute for bursts) instead of failing with SQLITE_BUSY.
	sqliteParams := flag.String("sqlite-params", "_txlock=immediate&_pragma=busy_timeout(60000)", "extra SQLite URI query parameters")
	flag.Parse()

	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: -dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: cannot create %s: %v\n", *dir, err)
		os.Exit(1)
	}

	listen := *addr
	// FerretDB needs a concrete port to report; resolve port 0 ourselves.
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -listen %q: %v\n", listen, err)
		os.Exit(2)
	}
	if port == "0" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb: cannot find a free port: %v\n", err)
			os.Exit(1)
		}
		listen = l.Addr().String()
		_ = l.Close()
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/?" + *sqliteParams,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	go newIDIndexKeeper(*dir, *sqliteParams, logger).run(ctx, 250*time.Millisecond)

	// Wait until the port accepts connections before announcing readiness.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-done:
			fmt.Fprintf(os.Stderr, "ferretdb: stopped before ready: %v\n", err)
			os.Exit(1)
		default:
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "ferretdb: not ready after 30s")
			os.Exit(1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("READY %s\n", f.MongoDBURI())

	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}
