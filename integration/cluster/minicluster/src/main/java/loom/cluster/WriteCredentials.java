package loom.cluster;

import static java.nio.charset.StandardCharsets.UTF_8;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.security.Credentials;
import org.apache.hadoop.security.token.Token;
import org.apache.hadoop.security.token.TokenIdentifier;

/**
 * Writes a credentials (token storage) file with Hadoop's own code, so that
 * loom's reader and writer of that format are checked against the real
 * thing: {@code WriteCredentials PATH writable|protobuf}. The file holds one
 * AMRMToken and one secret key, fixed values the Go test knows.
 */
public final class WriteCredentials {
  private WriteCredentials() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: WriteCredentials PATH writable|protobuf");
      System.exit(2);
    }
    Credentials creds = new Credentials();
    Token<TokenIdentifier> token =
        new Token<>(
            "loom-identifier".getBytes(UTF_8),
            "loom-password".getBytes(UTF_8),
            new Text("YARN_AM_RM_TOKEN"),
            new Text("127.0.0.1:8030"));
    creds.addToken(new Text("amrm"), token);
    creds.addSecretKey(new Text("loom.secret"), "s3cr3t".getBytes(UTF_8));
    Credentials.SerializedFormat format =
        Credentials.SerializedFormat.valueOf(args[1].toUpperCase());
    creds.writeTokenStorageFile(new Path("file://" + args[0]), new Configuration(), format);
  }
}
