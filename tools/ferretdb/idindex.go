package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// FerretDB 1.24 on SQLite stores each document as JSON in one column and answers a query
// whose filter is exactly {_id: <string or ObjectId>} with `WHERE _ferretdb_sjson->'$._id' = ?`.
// The unique index it makes for _id is on the expression `_ferretdb_sjson->"_id"`, which
// SQLite does not match against `->'$._id'` (an expression index is used only for the same
// expression), so every _id lookup, update and delete scanned the whole table.
//
// idIndexKeeper adds, to every collection table, an index on exactly the expression those
// queries use. It is an index only: documents, FerretDB's metadata and the wire protocol are
// untouched, DROP of a collection drops it with the table, and a table without it (for the
// moment between its creation and the next pass) is merely slower.
type idIndexKeeper struct {
	dir    string
	params string
	logger *slog.Logger
	dbs    map[string]*sql.DB
	done   map[string]bool
}

const idExpression = `_ferretdb_sjson->'$._id'`

func newIDIndexKeeper(dir, params string, logger *slog.Logger) *idIndexKeeper {
	return &idIndexKeeper{dir: dir, params: params, logger: logger, dbs: map[string]*sql.DB{}, done: map[string]bool{}}
}

// run makes a pass every interval until ctx ends. A pass is a read of sqlite_master per
// database file; an index is built once per table.
func (k *idIndexKeeper) run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	defer func() {
		for _, db := range k.dbs {
			_ = db.Close()
		}
	}()
	for {
		k.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (k *idIndexKeeper) pass(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(k.dir, "*.sqlite"))
	if err != nil {
		return
	}
	for _, file := range files {
		db, ok := k.dbs[file]
		if !ok {
			db, err = sql.Open("sqlite", "file:"+file+"?"+k.params)
			if err != nil {
				k.logger.Warn("id index: cannot open", "file", file, "err", err)
				continue
			}
			db.SetMaxOpenConns(1)
			k.dbs[file] = db
		}
		if err := k.ensure(ctx, file, db); err != nil && ctx.Err() == nil {
			k.logger.Debug("id index: pass failed", "file", file, "err", err)
		}
	}
}

func (k *idIndexKeeper) ensure(ctx context.Context, file string, db *sql.DB) error {
	rows, err := db.QueryContext(ctx,
		`SELECT t.name FROM sqlite_master t WHERE t.type = 'table' AND t.name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		 AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.tbl_name = t.name AND i.name = t.name || '__genbot_id')`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	_ = rows.Close()
	for _, table := range tables {
		key := file + "\x00" + table
		quoted := `"` + strings.ReplaceAll(table, `"`, `""`) + `"`
		index := `"` + strings.ReplaceAll(table+"__genbot_id", `"`, `""`) + `"`
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`, index, quoted, idExpression)
		if _, err := db.ExecContext(ctx, q); err != nil {
			// The table may have been dropped since the read; the next pass sees.
			k.logger.Debug("id index: create failed", "table", table, "err", err)
			continue
		}
		if !k.done[key] {
			k.done[key] = true
			k.logger.Info("id index: created", "table", table)
		}
	}
	return nil
}
