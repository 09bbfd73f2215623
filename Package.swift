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
        .executable(name: "mcp-ingress", targets: ["Ingress"]),
        .executable(name: "mcp-worker", targets: ["Worker"]),
        .executable(name: "mcpgw", targets: ["GatewayCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
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

        // The AMQP client, the PostgreSQL client, the message contract, configuration and logging.
        .target(
            name: "Shared",
            dependencies: [
                "CRabbitMQ",
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Postgres/Migrations")],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "Ingress",
            dependencies: ["Shared"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Worker",
            dependencies: ["Shared"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayCLI",
            dependencies: [
                "Shared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "SharedTests",
            dependencies: [
                "Shared",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
