package loom.cluster;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * loom's dev cluster: one NameNode + one DataNode (MiniDFSCluster) and one
 * ResourceManager + N NodeManagers (MiniYARNCluster) in this JVM, on fixed
 * loopback ports.
 *
 * <p>Usage: {@code MiniHadoop <state-dir> <conf-dir>}. Settings come from system
 * properties (the start script passes them from env vars):
 * loom.nn.port (8020), loom.nn.http.port (9870), loom.rm.port (8032),
 * loom.rm.scheduler.port (8030), loom.rm.tracker.port (8031),
 * loom.rm.admin.port (8033), loom.rm.web.port (8088), loom.nm.count (2),
 * loom.nm.memory.mb (4096), loom.nm.vcores (8), loom.min.alloc.mb (64).
 *
 * <p>When HDFS accepts writes and all NodeManagers are registered, it writes
 * a client configuration directory ({@code <conf-dir>}: core-site.xml,
 * hdfs-site.xml, yarn-site.xml) and then the file {@code <state-dir>/hadoop.ready}.
 * On SIGTERM it stops YARN (and its containers) and HDFS and exits.
 */
public final class MiniHadoop {
  private static final String HOST = "127.0.0.1";

  private MiniHadoop() {}

  private static int prop(String name, int def) {
    String v = System.getProperty(name);
    return v == null || v.isEmpty() ? def : Integer.parseInt(v.trim());
  }

  private static void log(String msg) {
    System.out.println("[loom-minihadoop] " + msg);
    System.out.flush();
  }

  public static void main(String[] args) {
    try {
      run(args);
    } catch (Throwable t) {
      // Non-daemon server threads would keep a failed JVM alive: exit for real.
      System.err.println("[loom-minihadoop] FAILED: " + t);
      t.printStackTrace();
      Runtime.getRuntime().halt(1);
    }
  }

  private static void run(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: MiniHadoop <state-dir> <conf-dir>");
      Runtime.getRuntime().halt(2);
    }
    File state = new File(args[0]).getAbsoluteFile();
    File confDir = new File(args[1]).getAbsoluteFile();
    File ready = new File(state, "hadoop.ready");
    Files.deleteIfExists(ready.toPath());

    int nnPort = prop("loom.nn.port", 8020);
    int nnHttp = prop("loom.nn.http.port", 9870);
    int rmPort = prop("loom.rm.port", 8032);
    int rmSched = prop("loom.rm.scheduler.port", 8030);
    int rmTracker = prop("loom.rm.tracker.port", 8031);
    int rmAdmin = prop("loom.rm.admin.port", 8033);
    int rmWeb = prop("loom.rm.web.port", 8088);
    int nmCount = prop("loom.nm.count", 2);
    int nmMem = prop("loom.nm.memory.mb", 4096);
    int nmVcores = prop("loom.nm.vcores", 8);
    int minAlloc = prop("loom.min.alloc.mb", 64);

    // ---- HDFS -------------------------------------------------------------
    File dfsBase = new File(state, "dfs");
    Configuration hconf = new HdfsConfiguration();
    hconf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dfsBase.getPath());
    hconf.set("hadoop.tmp.dir", new File(state, "tmp").getPath());
    hconf.setBoolean("dfs.permissions.enabled", false);
    hconf.setInt("dfs.replication", 1);
    hconf.set("dfs.namenode.rpc-bind-host", HOST);
    hconf.set("dfs.namenode.http-bind-host", HOST);
    hconf.set("dfs.namenode.servicerpc-bind-host", HOST);
    hconf.setBoolean("dfs.namenode.support.allow.format", true);
    // Fewer threads on a 2-core machine.
    hconf.setInt("dfs.namenode.handler.count", 4);
    hconf.setInt("dfs.namenode.service.handler.count", 2);
    hconf.setInt("dfs.datanode.handler.count", 3);
    hconf.setInt("ipc.server.read.threadpool.size", 1);
    // Truncate and append are used by exactly-once file sinks.
    hconf.setBoolean("dfs.support.append", true);

    log("starting HDFS (NameNode " + HOST + ":" + nnPort + ", http " + nnHttp + ") in " + dfsBase);
    MiniDFSCluster dfs = new MiniDFSCluster.Builder(hconf, dfsBase)
        .numDataNodes(1)
        .nameNodePort(nnPort)
        .nameNodeHttpPort(nnHttp)
        .format(true)
        .checkDataNodeHostConfig(true)
        .build();
    dfs.waitActive();
    String defaultFS = "hdfs://" + HOST + ":" + dfs.getNameNodePort();
    log("HDFS up at " + defaultFS);

    FileSystem fs = dfs.getFileSystem();
    for (String d : new String[] {"/tmp", "/user", "/user/hive/warehouse", "/tmp/logs", "/tmp/hadoop-yarn/staging"}) {
      fs.mkdirs(new org.apache.hadoop.fs.Path(d));
      fs.setPermission(new org.apache.hadoop.fs.Path(d), new FsPermission((short) 01777));
    }
    probeWrite(fs);

    // ---- YARN -------------------------------------------------------------
    YarnConfiguration yconf = new YarnConfiguration(hconf);
    yconf.set("fs.defaultFS", defaultFS);
    yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
    yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_USE_RPC, true);
    yconf.set(YarnConfiguration.RM_HOSTNAME, HOST);
    yconf.set(YarnConfiguration.RM_ADDRESS, HOST + ":" + rmPort);
    yconf.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, HOST + ":" + rmSched);
    yconf.set(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, HOST + ":" + rmTracker);
    yconf.set(YarnConfiguration.RM_ADMIN_ADDRESS, HOST + ":" + rmAdmin);
    yconf.set(YarnConfiguration.RM_WEBAPP_ADDRESS, HOST + ":" + rmWeb);
    yconf.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, nmMem);
    yconf.setInt(YarnConfiguration.NM_PMEM_MB, nmMem);
    yconf.setInt(YarnConfiguration.NM_VCORES, nmVcores);
    yconf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, minAlloc);
    yconf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nmMem);
    yconf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_VCORES, 1);
    yconf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, nmVcores);
    // The minicluster jar has no capacity-scheduler.xml: one queue, all of it.
    yconf.set("yarn.scheduler.capacity.root.queues", "default");
    yconf.set("yarn.scheduler.capacity.root.default.capacity", "100");
    yconf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
    yconf.set("yarn.scheduler.capacity.root.default.user-limit-factor", "1");
    yconf.set("yarn.scheduler.capacity.root.default.state", "RUNNING");
    yconf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");
    yconf.set("yarn.scheduler.capacity.root.default.maximum-am-resource-percent", "1.0");
    // Shared dev disks fill up; never mark the NM's dirs bad for that.
    yconf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
    yconf.setLong(YarnConfiguration.NM_MIN_PER_DISK_FREE_SPACE_MB, 0);
    yconf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    yconf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    // Keep finished containers' dirs and logs a while, for debugging.
    yconf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 600);
    // Kill containers quickly (SIGTERM, then SIGKILL after 250 ms) on app kill and NM stop.
    yconf.setLong(YarnConfiguration.NM_SLEEP_DELAY_BEFORE_SIGKILL_MS, 250);
    yconf.setLong(YarnConfiguration.NM_PROCESS_KILL_WAIT_MS, 1000);
    yconf.setInt(YarnConfiguration.RM_AM_MAX_ATTEMPTS, 2);
    // Fewer threads on a 2-core machine.
    yconf.setInt(YarnConfiguration.RM_CLIENT_THREAD_COUNT, 4);
    yconf.setInt(YarnConfiguration.RM_SCHEDULER_CLIENT_THREAD_COUNT, 4);
    yconf.setInt(YarnConfiguration.RM_RESOURCE_TRACKER_CLIENT_THREAD_COUNT, 2);
    yconf.setInt(YarnConfiguration.RM_ADMIN_CLIENT_THREAD_COUNT, 1);
    yconf.setInt(YarnConfiguration.NM_CONTAINER_MGR_THREAD_COUNT, 4);
    yconf.setInt(YarnConfiguration.NM_CLIENT_ASYNC_THREAD_POOL_MAX_SIZE, 4);
    yconf.setInt(YarnConfiguration.NM_LOCALIZER_CLIENT_THREAD_COUNT, 2);
    yconf.setInt(YarnConfiguration.NM_LOCALIZER_FETCH_THREAD_COUNT, 2);
    yconf.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);

    log("starting YARN (RM " + HOST + ":" + rmPort + ", web " + rmWeb + ", " + nmCount + " NodeManagers x "
        + nmMem + " MB / " + nmVcores + " vcores)");
    MiniYARNCluster yarn = new MiniYARNCluster("loom", nmCount, 1, 1);
    yarn.init(yconf);
    yarn.start();
    if (!yarn.waitForNodeManagersToConnect(120_000)) {
      throw new IllegalStateException("NodeManagers did not register with the ResourceManager within 120 s");
    }
    Configuration live = yarn.getConfig();
    log("YARN up: RM " + live.get(YarnConfiguration.RM_ADDRESS) + ", " + nmCount + " NodeManagers registered");

    // On SIGTERM: stop YARN (which kills its containers) and HDFS, each within
    // a time budget, then halt. The data is thrown away at the next start, so a
    // slow graceful stop buys nothing; cluster.sh kills any container left.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log("stopping YARN and HDFS");
      try {
        Files.deleteIfExists(ready.toPath());
      } catch (IOException ignored) {
        // best effort
      }
      runWithin("YARN stop", 6_000, yarn::stop);
      runWithin("HDFS stop", 4_000, () -> dfs.shutdown());
      log("stopped");
      System.out.flush();
      Runtime.getRuntime().halt(0);
    }, "loom-minihadoop-stop"));

    writeClientConf(confDir, defaultFS, live, nnHttp, minAlloc, nmMem, nmVcores);
    Files.writeString(ready.toPath(), defaultFS + "\n", StandardCharsets.UTF_8);
    log("ready: client configuration in " + confDir);
    Thread.currentThread().join(); // serve until SIGTERM
  }

  /** Runs a stop action in its own thread and gives up waiting after ms milliseconds. */
  private static void runWithin(String what, long ms, Runnable action) {
    Thread t = new Thread(() -> {
      try {
        action.run();
      } catch (IllegalStateException e) {
        // MiniDFSCluster removes its own shutdown hook, which is refused while hooks run.
      } catch (Throwable e) {
        log(what + ": " + e);
      }
    }, "loom-" + what.replace(' ', '-'));
    t.setDaemon(true);
    t.start();
    try {
      t.join(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (t.isAlive()) {
      log(what + ": not done after " + ms + " ms, going on");
    }
  }

  /** Writes, reads back and deletes a small file, so that "ready" means HDFS accepts writes. */
  private static void probeWrite(FileSystem fs) throws IOException {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path("/tmp/.loom-probe");
    byte[] data = "probe".getBytes(StandardCharsets.UTF_8);
    try (FSDataOutputStream out = fs.create(p, true)) {
      out.write(data);
    }
    byte[] back = new byte[data.length];
    try (FSDataInputStream in = fs.open(p)) {
      in.readFully(back);
    }
    if (!java.util.Arrays.equals(data, back)) {
      throw new IOException("HDFS probe read back different bytes");
    }
    fs.delete(p, false);
  }

  /** Writes a client configuration directory, as a real cluster's gateway node would have. */
  private static void writeClientConf(File dir, String defaultFS, Configuration live, int nnHttp, int minAlloc,
      int nmMem, int nmVcores) throws IOException {
    Files.createDirectories(dir.toPath());
    Map<String, String> core = new TreeMap<>();
    core.put("fs.defaultFS", defaultFS);
    core.put("hadoop.security.authentication", "simple");

    Map<String, String> hdfs = new TreeMap<>();
    hdfs.put("dfs.replication", "1");
    hdfs.put("dfs.permissions.enabled", "false");
    hdfs.put("dfs.namenode.rpc-address", defaultFS.substring("hdfs://".length()));
    hdfs.put("dfs.namenode.http-address", HOST + ":" + nnHttp);
    hdfs.put("dfs.client.use.datanode.hostname", "false");

    Map<String, String> yarn = new TreeMap<>();
    for (String k : new String[] {YarnConfiguration.RM_ADDRESS, YarnConfiguration.RM_SCHEDULER_ADDRESS,
        YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, YarnConfiguration.RM_ADMIN_ADDRESS,
        YarnConfiguration.RM_WEBAPP_ADDRESS}) {
      // The RM reports "localhost:port"; clients get the loopback address it is bound to.
      String v = live.get(k);
      yarn.put(k, HOST + v.substring(v.lastIndexOf(':')));
    }
    yarn.put(YarnConfiguration.RM_HOSTNAME, HOST);
    yarn.put(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, String.valueOf(minAlloc));
    yarn.put(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, String.valueOf(nmMem));
    yarn.put(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, String.valueOf(nmVcores));
    yarn.put("yarn.app.mapreduce.am.staging-dir", "/tmp/hadoop-yarn/staging");

    writeSite(new File(dir, "core-site.xml"), core);
    writeSite(new File(dir, "hdfs-site.xml"), hdfs);
    writeSite(new File(dir, "yarn-site.xml"), yarn);
  }

  private static void writeSite(File f, Map<String, String> props) throws IOException {
    StringBuilder b = new StringBuilder();
    b.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    b.append("<!-- Written by loom's dev cluster (integration/cluster); client configuration. -->\n");
    b.append("<configuration>\n");
    for (Map.Entry<String, String> e : props.entrySet()) {
      b.append("  <property>\n    <name>").append(xml(e.getKey())).append("</name>\n    <value>")
          .append(xml(e.getValue())).append("</value>\n  </property>\n");
    }
    b.append("</configuration>\n");
    Path tmp = new File(f.getParentFile(), "." + f.getName() + ".tmp").toPath();
    try (OutputStream out = new FileOutputStream(tmp.toFile())) {
      out.write(b.toString().getBytes(StandardCharsets.UTF_8));
    }
    Files.move(tmp, f.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static String xml(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
