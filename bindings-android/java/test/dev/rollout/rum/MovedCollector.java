package dev.rollout.rum;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A collector that moved (an http URL now redirecting to https, a new host): answers every
 * request with {@code 308 Permanent Redirect} to the same path on the real collector.
 */
final class MovedCollector implements AutoCloseable {
    private final HttpServer server;
    private final String target;
    /** Requests answered with the redirect. */
    final AtomicInteger redirected = new AtomicInteger();

    MovedCollector(String target) throws IOException {
        this.target = target;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    /** The old base URL to give the agent. */
    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
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
        server.stop(0);
    }
}
