// Package hdfs is loom's access to HDFS, through github.com/colinmarc/hdfs/v2.
//
// Configuration comes from the Hadoop client configuration directory
// ($HADOOP_CONF_DIR: core-site.xml, hdfs-site.xml, yarn-site.xml; see
// LoadHadoopConf and LoadConfig) and the user from $HADOOP_USER_NAME, else
// the OS user. Paths may be "hdfs://host:port/p", "hdfs://nameservice/p",
// "hdfs:///p" (the default file system, fs.defaultFS) or plain paths of the
// default file system (Config.Resolve).
//
// A *Client implements loom's file-system seam, vfs.FS: open with
// byte-range reads (ReaderAt + Size), create, append, rename, truncate,
// mkdirs, remove, stat, list (List expands globs like vfs.List, keeping the
// pattern's URI form). CreateAtomic publishes a file all at once (hidden
// ".name.inprogress", synced, then renamed) on any FileSystem. For picks the
// local file system or HDFS from a path. Importing this package registers
// the "hdfs" scheme with vfs.Register (in an init function), so
// vfs.Resolve("hdfs:///..."), and through it the file connectors and
// checkpoint storage, reach HDFS.
//
// # Durability on HDFS
//
// What vfs.FS promises maps onto HDFS as follows.
//
//   - File.Sync completes the file on the NameNode — after every DataNode of
//     the write pipeline acknowledged every packet — and the next Write
//     reopens it for append. When Sync returns, the file's length is in the
//     NameNode's edit log and its bytes are on every DataNode of the
//     pipeline (in their memory or on their disks, as
//     dfs.datanode.synconclose says: HDFS's guarantee is replication, not
//     fsync). colinmarc/hdfs offers no hflush or hsync: its FileWriter.Flush
//     only sends packets to the first DataNode without waiting for
//     acknowledgements, and a file's length on the NameNode changes only
//     when a block or the file is completed, so completing is the only way
//     to make written bytes count. Each Sync costs a NameNode round trip and
//     a new append pipeline, which is fine at checkpoint intervals.
//   - File.Close completes the file unless Sync just did; a completed Close
//     is what makes a file complete on the NameNode. A writer that dies
//     without it leaves the file under its lease: the NameNode recovers the
//     lease after its soft limit (a minute by default) and keeps what the
//     DataNodes hold; until then Append and Truncate of that file fail.
//   - SyncDir does nothing: the NameNode logs every namespace change
//     (create, rename, delete, mkdir) to its edit log before the call
//     returns, so it is durable already. MkdirAll and Truncate are durable
//     when they return for the same reason (Truncate also waits for the
//     block recovery of a cut inside a block).
//   - Rename is rename2 with OVERWRITE: one NameNode operation that replaces
//     a file (or an empty directory, by a directory) at the new name
//     atomically. The new name's parent must exist.
//   - Create creates missing parent directories, as HDFS does.
//
// Errors name the path (as an hdfs:// URI) and, for an unreachable NameNode,
// its address and where it came from (e.g. "fs.defaultFS in
// /etc/hadoop/conf/core-site.xml"); errors.Is(err, fs.ErrNotExist) and
// fs.ErrPermission work on them.
package hdfs
