// The SQLite-side keeper: FerretDB v1.24.2 builds its unique _id index on the expression
// _ferretdb_sjson->"_id" but its pushed-down _id filter compares _ferretdb_sjson->'$._id', so
// SQLite never uses the index and every lookup scans the table. The keeper rebuilds each
// collection's _id index on the expression the queries use (same name, still unique), adds an
// index on expiresAt, and deletes expired documents through that index, so the purge reads only
// what has expired. It works on FerretDB's storage files, never on its code.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver, the same one FerretDB uses
)

const (
	sjson          = "_ferretdb_sjson"
	idExpr         = sjson + "->'$._id'"
	expiresExpr    = sjson + "->>'$.expiresAt'"
	collectionsTbl = "_ferretdb_collections"
)

type keeper struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	dbs    map[string]*sql.DB // file path -> connection pool
	schema map[string]int64   // file path -> schema_version seen at the last index pass
}

func newKeeper(dir string, log *slog.Logger) *keeper {
	return &keeper{dir: dir, log: log, dbs: map[string]*sql.DB{}, schema: map[string]int64{}}
}

// run keeps indexes right (polling each database's schema_version) and purges expired documents.
func (k *keeper) run(ctx context.Context, poll, purge time.Duration) {
	indexTick := time.NewTicker(poll)
	defer indexTick.Stop()
	var purgeTick <-chan time.Time
	if purge > 0 {
		t := time.NewTicker(purge)
		defer t.Stop()
		purgeTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			k.closeAll()
			return
		case <-indexTick.C:
			k.forEachDB(k.ensureIndexes)
		case <-purgeTick:
			k.forEachDB(func(db *sql.DB, file string) error {
				_, err := k.purge(db, time.Now())
				return err
			})
		}
	}
}

func (k *keeper) forEachDB(fn func(db *sql.DB, file string) error) {
	files, _ := filepath.Glob(filepath.Join(k.dir, "*.sqlite"))
	seen := map[string]bool{}
	for _, file := range files {
		seen[file] = true
		db, err := k.open(file)
		if err == nil {
			err = fn(db, file)
		}
		if err != nil && !strings.Contains(err.Error(), "no such table") {
			k.log.Warn("tessera-ferretdb keeper", "file", filepath.Base(file), "error", err)
		}
	}
	// databases dropped by FerretDB: forget their connections
	k.mu.Lock()
	defer k.mu.Unlock()
	for file, db := range k.dbs {
		if !seen[file] {
			_ = db.Close()
			delete(k.dbs, file)
			delete(k.schema, file)
		}
	}
}

func (k *keeper) open(file string) (*sql.DB, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if db, ok := k.dbs[file]; ok {
		return db, nil
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	k.dbs[file] = db
	return db, nil
}

func (k *keeper) closeAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for file, db := range k.dbs {
		_ = db.Close()
		delete(k.dbs, file)
	}
}

// ensureIndexes runs only when the database's schema changed since the last pass.
func (k *keeper) ensureIndexes(db *sql.DB, file string) error {
	var version int64
	if err := db.QueryRow("PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	k.mu.Lock()
	same := k.schema[file] == version
	k.mu.Unlock()
	if same {
		return nil
	}
	tables, err := collectionTables(db)
	if err != nil {
		return err
	}
	for _, table := range tables {
		if err := fixTable(db, table); err != nil {
			return fmt.Errorf("table %s: %w", table, err)
		}
	}
	// remember the version read before listing: a collection created during this pass (and our own
	// DDL) changes it, so the next tick looks again; a pass with nothing to do settles it
	k.mu.Lock()
	k.schema[file] = version
	k.mu.Unlock()
	return nil
}

func collectionTables(db *sql.DB) ([]string, error) {
	rows, err := db.Query("SELECT table_name FROM " + collectionsTbl)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}

// fixTable rebuilds the _id index on the pushed-down expression and adds the expiresAt index, in
// one transaction so uniqueness of _id is never unguarded. It never creates a missing _id index:
// that is FerretDB's to create.
func fixTable(db *sql.DB, table string) error {
	idIndex := table + "__id_"
	var idSQL sql.NullString
	err := db.QueryRow("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", idIndex).Scan(&idSQL)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if err == sql.ErrNoRows {
		// FerretDB is still creating this collection (table, metadata row, then its _id index, in
		// separate statements): leave it alone; creating the index fires another schema change
		return nil
	}
	idOK := strings.Contains(idSQL.String, idExpr)
	expiresIndex := table + "_tessera_expires"
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", expiresIndex).Scan(&n); err != nil {
		return err
	}
	if idOK && n == 1 {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if !idOK {
		if _, err := tx.Exec(fmt.Sprintf("DROP INDEX IF EXISTS %q", idIndex)); err != nil {
			return err
		}
		if _, err := tx.Exec(fmt.Sprintf("CREATE UNIQUE INDEX %q ON %q (%s)", idIndex, table, idExpr)); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(fmt.Sprintf("CREATE INDEX IF NOT EXISTS %q ON %q (%s)", expiresIndex, table, expiresExpr)); err != nil {
		return err
	}
	return tx.Commit()
}

// purge deletes documents whose expiresAt (a BSON date: milliseconds in FerretDB's JSON) has passed.
func (k *keeper) purge(db *sql.DB, now time.Time) (int64, error) {
	tables, err := collectionTables(db)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, table := range tables {
		res, err := db.Exec(fmt.Sprintf("DELETE FROM %q WHERE %s <= ?", table, expiresExpr), now.UnixMilli())
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
