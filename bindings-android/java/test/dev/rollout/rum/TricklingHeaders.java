package dev.rollout.rum;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A server that takes a batch and then trickles its response headers a byte every 2 s, forever:
 * each read is within the uploader's read timeout and the status is never complete, so only a
 * deadline on the whole upload frees the upload thread.
 */
final class TricklingHeaders implements AutoCloseable {
    private final ServerSocket socket;

    TricklingHeaders() throws IOException {
        socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(() -> {
            while (!socket.isClosed()) {
                try {
                    Socket client = socket.accept();
                    Thread serve = new Thread(() -> trickle(client), "trickling-headers");
                    serve.setDaemon(true);
                    serve.start();
                } catch (IOException closed) {
                    return;
                }
            }
        }, "trickling-headers-accept");
        accept.setDaemon(true);
        accept.start();
    }

    String url() {
        return "http://127.0.0.1:" + socket.getLocalPort();
    }

    private static void trickle(Socket client) {
        try (Socket c = client; InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
            byte[] request = new byte[64 * 1024];
            in.read(request); // the head and (small) body, as far as they came
            out.write("HTTP/1.1 202 Accepted\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
            while (true) {
                out.write('.');
                out.flush();
                Thread.sleep(2_000);
            }
        } catch (IOException | InterruptedException gone) {
            // The client hung up (as it should): done.
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
