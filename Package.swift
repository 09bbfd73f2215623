// swift-tools-version: 6.1
import PackageDescription

/// Settings every target of ours shares: Swift 6 language mode comes from the tools
/// version; these add the upcoming features the Swift server packages we learn from use.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mcp-queue-gateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mcp-ingress", targets: ["IngressServer"]),
        .executable(name: "mcp-worker", targets: ["WorkerServer"]),
        .executable(name: "mcpgw", targets: ["GatewayCLI"]),
        .executable(name: "mcpgw-benchmark", targets: ["GatewayBenchmark"]),
        .executable(name: "mcpgw-audit-benchmark", targets: ["AuditBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.0"),
        // OTLP/HTTP only: the gRPC exporter's trait would build grpc-swift-2 and its transport.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // C libraries, each behind a one-header shim. Nothing outside Shared imports them.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev", "libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // glibc's process-spawning extensions (pipe2, closefrom, setsid) for stdio MCP backends.
        .target(name: "CProcessSpawn"),

        // The AMQP client, the PostgreSQL client, the message contract, configuration and logging.
        .target(
            name: "Shared",
            dependencies: [
                "CRabbitMQ",
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            resources: [.copy("Postgres/Migrations")],
            swiftSettings: swiftSettings
        ),

        // Reading the audit stream and the dead-letter queue: positions, filters, formats (mcpgw audit, dead-letters).
        .target(
            name: "Audit",
            dependencies: ["Shared"],
            swiftSettings: swiftSettings
        ),

        // The HTTP edge: authentication, the MCP and OpenAPI surfaces, the RPC over the broker.
        .target(
            name: "Ingress",
            dependencies: [
                "Shared",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Consumes requests, authorizes them in PostgreSQL, runs them on MCP backends.
        .target(
            name: "Worker",
            dependencies: [
                "Shared",
                "CProcessSpawn",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),

        // Thin executables: read configuration, build the service group, run it.
        .executableTarget(name: "IngressServer", dependencies: ["Ingress"], swiftSettings: swiftSettings),
        .executableTarget(name: "WorkerServer", dependencies: ["Worker"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "GatewayCLI",
            dependencies: [
                "Shared",
                "Audit",
                "Worker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),

        // Measures what the queue costs: direct calls, a bare RPC over the broker, the whole gateway.
        .executableTarget(
            name: "GatewayBenchmark",
            dependencies: [
                "Ingress",
                "Worker",
                "Shared",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Measures `mcpgw audit export` next to a bare stream consumer; needs nothing of the gateway
        // but the Audit library, so its release build is quick.
        .executableTarget(
            name: "AuditBenchmark",
            dependencies: [
                "Audit",
                "Shared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Helpers every test target shares: environment, throwaway nodes, scratch schemas.
        .target(
            name: "TestSupport",
            dependencies: [
                "Shared",
                "Worker",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SharedTests",
            dependencies: [
                "Shared",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngressTests",
            dependencies: [
                "Ingress",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: ["Worker", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Audit",
                "Ingress",
                "Worker",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
