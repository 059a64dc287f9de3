//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beltran/gohive"
	"github.com/beltran/gohive/hive_metastore"
)

// metastoreClient connects to the dev cluster's metastore (SASL off).
func metastoreClient(t *testing.T) *gohive.HiveMetastoreClient {
	t.Helper()
	addr := clusterEnv(t, "LOOM_HIVE_METASTORE")
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("LOOM_HIVE_METASTORE=%q: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("LOOM_HIVE_METASTORE=%q: bad port", addr)
	}
	c, err := gohive.ConnectToMetastore(host, port, "NOSASL", gohive.NewMetastoreConnectConfiguration())
	if err != nil {
		t.Fatalf("connect to the metastore at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestHiveMetastoreExternalTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms := metastoreClient(t)
	fsys, base := hdfsClient(t)

	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	dbName := "loom_it_" + suffix
	dbLocation := fsys.URI(base + "/" + dbName + ".db")
	db := &hive_metastore.Database{
		Name:        dbName,
		Description: "loom integration test",
		LocationUri: dbLocation,
		Parameters:  map[string]string{"created.by": "loom-it"},
	}
	if err := ms.Client.CreateDatabase(ctx, db); err != nil {
		t.Fatalf("create database %s: %v", dbName, err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ms.Client.DropDatabase(dctx, dbName, false, true); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	gotDB, err := ms.Client.GetDatabase(ctx, dbName)
	if err != nil {
		t.Fatalf("get database: %v", err)
	}
	if gotDB.LocationUri != dbLocation {
		t.Fatalf("database location = %q, want %q", gotDB.LocationUri, dbLocation)
	}

	tableLocation := fsys.URI(base + "/wordcount")
	table := &hive_metastore.Table{
		TableName: "wordcount",
		DbName:    dbName,
		Owner:     "loom",
		TableType: "EXTERNAL_TABLE",
		Parameters: map[string]string{
			"EXTERNAL":        "TRUE",
			"comment":         "words and counts",
			"loom.test.param": "42",
		},
		Sd: &hive_metastore.StorageDescriptor{
			Cols: []*hive_metastore.FieldSchema{
				{Name: "word", Type: "string", Comment: "a word"},
				{Name: "cnt", Type: "bigint"},
			},
			Location:     tableLocation,
			InputFormat:  "org.apache.hadoop.mapred.TextInputFormat",
			OutputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
			SerdeInfo: &hive_metastore.SerDeInfo{
				Name:             "wordcount",
				SerializationLib: "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
				Parameters:       map[string]string{"field.delim": "\t", "serialization.format": "\t"},
			},
			Parameters: map[string]string{},
		},
		PartitionKeys: []*hive_metastore.FieldSchema{{Name: "dt", Type: "string"}},
	}
	if err := ms.Client.CreateTable(ctx, table); err != nil {
		t.Fatalf("create table %s.wordcount: %v", dbName, err)
	}

	// Hive 4 removed get_table: read it back with get_table_req.
	req := hive_metastore.NewGetTableRequest()
	req.DbName = dbName
	req.TblName = "wordcount"
	res, err := ms.Client.GetTableReq(ctx, req)
	if err != nil {
		t.Fatalf("get_table_req: %v", err)
	}
	got := res.GetTable()
	if got == nil || got.Sd == nil {
		t.Fatalf("get_table_req returned no table or no storage descriptor: %+v", res)
	}
	if got.TableType != "EXTERNAL_TABLE" || !strings.EqualFold(got.Parameters["EXTERNAL"], "TRUE") {
		t.Errorf("table type %q, EXTERNAL=%q; want an external table", got.TableType, got.Parameters["EXTERNAL"])
	}
	if got.Parameters["loom.test.param"] != "42" {
		t.Errorf("table parameters = %v", got.Parameters)
	}
	sd := got.Sd
	if sd.Location != tableLocation {
		t.Errorf("location = %q, want %q", sd.Location, tableLocation)
	}
	if sd.InputFormat != table.Sd.InputFormat || sd.OutputFormat != table.Sd.OutputFormat {
		t.Errorf("formats = %q / %q", sd.InputFormat, sd.OutputFormat)
	}
	if sd.SerdeInfo == nil || sd.SerdeInfo.SerializationLib != table.Sd.SerdeInfo.SerializationLib || sd.SerdeInfo.Parameters["field.delim"] != "\t" {
		t.Errorf("serde = %+v", sd.SerdeInfo)
	}
	var cols []string
	for _, c := range sd.Cols {
		cols = append(cols, c.Name+":"+c.Type)
	}
	if strings.Join(cols, ",") != "word:string,cnt:bigint" {
		t.Errorf("columns = %v", cols)
	}
	if len(got.PartitionKeys) != 1 || got.PartitionKeys[0].Name != "dt" {
		t.Errorf("partition keys = %v", got.PartitionKeys)
	}

	// Partitions: add two (as a sink committing output would), list them back.
	var parts []*hive_metastore.Partition
	for _, dt := range []string{"2024-01-01", "2024-01-02"} {
		psd := *table.Sd
		psd.Location = tableLocation + "/dt=" + dt
		parts = append(parts, &hive_metastore.Partition{
			DbName: dbName, TableName: "wordcount", Values: []string{dt}, Sd: &psd,
			Parameters: map[string]string{},
		})
	}
	if n, err := ms.Client.AddPartitions(ctx, parts); err != nil || n != 2 {
		t.Fatalf("add_partitions = %d, %v", n, err)
	}
	names, err := ms.Client.GetPartitionNames(ctx, dbName, "wordcount", -1)
	if err != nil || strings.Join(names, ",") != "dt=2024-01-01,dt=2024-01-02" {
		t.Fatalf("get_partition_names = %v, %v", names, err)
	}
	gotParts, err := ms.Client.GetPartitionsByNames(ctx, dbName, "wordcount", []string{"dt=2024-01-02"})
	if err != nil || len(gotParts) != 1 || gotParts[0].Sd.Location != tableLocation+"/dt=2024-01-02" {
		t.Fatalf("get_partitions_by_names = %v, %v", gotParts, err)
	}

	// The metastore created the table's directory on the mini HDFS.
	if fi, err := fsys.Stat(tableLocation); err != nil || !fi.IsDir() {
		t.Errorf("table location %s on HDFS: %v", tableLocation, err)
	}
	tables, err := ms.Client.GetAllTables(ctx, dbName)
	if err != nil || fmt.Sprint(tables) != "[wordcount]" {
		t.Errorf("get_all_tables = %v, %v", tables, err)
	}

	// Dropping an external table keeps its data.
	if err := ms.Client.DropTable(ctx, dbName, "wordcount", true); err != nil {
		t.Fatalf("drop table: %v", err)
	}
	if _, err := fsys.Stat(tableLocation); errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("dropping the external table removed its data at %s", tableLocation)
	}
}
