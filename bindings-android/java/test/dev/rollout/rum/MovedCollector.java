package dev.rollout.rum;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A collector that moved (an http URL now redirecting to https, a new host): answers every
 * request with {@code 308 Permanent Redirect} to the same path on the real collector.
 */
final class MovedCollector implements AutoCloseable {
    private final LoopbackServer server;
    private final String target;
    /** Requests answered with the redirect. */
    final AtomicInteger redirected = new AtomicInteger();

    MovedCollector(String target) throws IOException {
        this.target = target;
        server = new LoopbackServer(this::handle);
    }

    /** The old base URL to give the agent. */
    String url() {
        return server.url();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (InputStream in = exchange.getRequestBody()) {
            in.readAllBytes();
        }
        redirected.incrementAndGet();
        exchange.getResponseHeaders().add("Location", target + exchange.getRequestURI());
        exchange.sendResponseHeaders(308, -1);
        exchange.close();
    }

    @Override
    public void close() {
        server.close();
    }
}
