package dev.rollout.rum;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A server that accepts a batch (202) and then trickles its response body a byte a second,
 * forever: each read is within the uploader's read timeout, so only a limit on the whole body
 * frees the upload thread.
 */
final class TricklingCollector implements AutoCloseable {
    private final LoopbackServer server = new LoopbackServer(TricklingCollector::handle);

    TricklingCollector() throws IOException {}

    String url() {
        return server.url();
    }

    private static void handle(HttpExchange exchange) throws IOException {
        try (InputStream in = exchange.getRequestBody()) {
            in.readAllBytes();
        }
        exchange.sendResponseHeaders(202, 0); // chunked: no end announced
        try (OutputStream out = exchange.getResponseBody()) {
            while (true) {
                out.write('.');
                out.flush();
                Thread.sleep(1_000);
            }
        } catch (IOException | InterruptedException gone) {
            // The client hung up (as it should): done.
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
