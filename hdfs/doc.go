// Package hdfs is loom's access to HDFS, through github.com/colinmarc/hdfs/v2.
//
// Configuration comes from the Hadoop client configuration directory
// ($HADOOP_CONF_DIR: core-site.xml, hdfs-site.xml, yarn-site.xml; see
// LoadHadoopConf and LoadConfig) and the user from $HADOOP_USER_NAME, else
// the OS user. Paths may be "hdfs://host:port/p", "hdfs://nameservice/p",
// "hdfs:///p" (the default file system, fs.defaultFS) or plain paths of the
// default file system (Config.Resolve).
//
// A *Client implements the file connectors' FileSystem (package
// connector/fs): open with byte-range reads (ReaderAt + Size), list with
// globs, create, append, rename, truncate, mkdirs, recursive delete, stat.
// CreateAtomic publishes a file all at once (hidden ".name.inprogress", then
// rename) on any FileSystem. For picks the local file system or HDFS from a
// path. Importing this package registers the "hdfs" scheme with
// connector/fs, so connector/fs.For("hdfs:///...") works too.
//
// Errors name the path (as an hdfs:// URI) and, for an unreachable NameNode,
// its address and where it came from (e.g. "fs.defaultFS in
// /etc/hadoop/conf/core-site.xml"); errors.Is(err, fs.ErrNotExist) and
// fs.ErrPermission work on them.
package hdfs
