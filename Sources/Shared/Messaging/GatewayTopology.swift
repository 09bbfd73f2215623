/// The broker layout every gateway process declares at start (idempotently):
///
/// ```
/// ingress --publish(server id)--> mcp.requests (topic) --server id--> mcp.server.<id>   (quorum; per server)
///                                       |                                 | delivery limit / rejected
///                                       +-- "#" --> mcp.audit (stream)    v
///                                                                    mcp.dlx (fanout) --> mcp.dead
/// workers --reply--> "" / reply_to (direct reply-to)     workers --outcome record--> "" / mcp.audit
/// ingress --cancellation--> mcp.cancel (fanout) --> mcp.cancel.<worker id> (exclusive, one per worker)
/// ```
///
/// One confirmed publish lands a request both in its server's queue and in the audit stream.
/// Because the stream takes every request, `mandatory` cannot tell an unknown server from a
/// known one; callers check that the server's queue exists instead.
public struct GatewayTopology: Sendable, Equatable {
    public enum QueueType: String, Sendable, CaseIterable {
        /// Replicated (Raft), with a delivery limit: the default.
        case quorum
        /// Lower latency, not replicated, and without a delivery limit (poison messages are
        /// then caught only by the worker's own redelivery check).
        case classic
    }

    public var requestsExchange = "mcp.requests"
    public var queuePrefix = "mcp.server."
    public var queueType = QueueType.quorum
    /// How often a request may be delivered before it is dead-lettered (quorum queues).
    public var deliveryLimit = 3
    /// Where `servers/list` requests go; every worker consumes it.
    public var catalogQueue = "mcp.catalog"
    public var deadLetterExchange = "mcp.dlx"
    public var deadLetterQueue = "mcp.dead"
    public var auditStream = "mcp.audit"
    /// Where cancellations of calls are broadcast (``CancellationMessage``); every worker binds a
    /// queue of its own, `<cancelExchange>.<worker id>`.
    public var cancelExchange = "mcp.cancel"
    /// Stream retention by age (RabbitMQ units: `Y M D h m s`, e.g. `30D`).
    public var auditMaxAge = "30D"
    public var auditMaxLengthBytes: Int64 = 10_000_000_000
    /// Smaller segments let retention drop old records sooner than RabbitMQ's 500 MB default.
    public var auditSegmentBytes: Int64 = 100_000_000

    public init() {}

    /// Reads the `AMQP_*` topology settings documented in the README.
    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        requestsExchange = environment.string("AMQP_REQUESTS_EXCHANGE", default: requestsExchange)
        queuePrefix = environment.string("AMQP_QUEUE_PREFIX", default: queuePrefix)
        queueType = try environment.oneOf("AMQP_QUEUE_TYPE", default: queueType)
        deliveryLimit = try environment.int("AMQP_DELIVERY_LIMIT", default: deliveryLimit, range: 1...100)
        catalogQueue = environment.string("AMQP_CATALOG_QUEUE", default: catalogQueue)
        deadLetterExchange = environment.string("AMQP_DEAD_LETTER_EXCHANGE", default: deadLetterExchange)
        deadLetterQueue = environment.string("AMQP_DEAD_LETTER_QUEUE", default: deadLetterQueue)
        auditStream = environment.string("AMQP_AUDIT_STREAM", default: auditStream)
        cancelExchange = environment.string("AMQP_CANCEL_EXCHANGE", default: cancelExchange)
        auditMaxAge = environment.string("AMQP_AUDIT_MAX_AGE", default: auditMaxAge)
        guard auditMaxAge.wholeMatch(of: /[0-9]+[YMDhms]/) != nil else {
            throw ConfigurationError(variable: "AMQP_AUDIT_MAX_AGE", reason: "must be a number and a unit (Y, M, D, h, m, s), e.g. 30D; got '\(auditMaxAge)'")
        }
        auditMaxLengthBytes = Int64(try environment.int("AMQP_AUDIT_MAX_LENGTH_BYTES", default: Int(auditMaxLengthBytes), range: 1_000_000...Int.max))
    }

    /// The queue that holds requests for `server`.
    public func queue(forServer server: String) -> String {
        queuePrefix + server
    }

    /// What every process declares: exchanges, dead letters and the audit stream.
    public var base: AMQPTopology {
        AMQPTopology(
            exchanges: [
                .init(name: requestsExchange, kind: .topic),
                .init(name: deadLetterExchange, kind: .fanout),
                .init(name: cancelExchange, kind: .fanout),
            ],
            queues: [
                .init(name: deadLetterQueue, arguments: ["x-queue-type": .string(QueueType.quorum.rawValue)]),
                .init(
                    name: auditStream,
                    arguments: [
                        "x-queue-type": "stream",
                        "x-max-age": .string(auditMaxAge),
                        "x-max-length-bytes": .int(auditMaxLengthBytes),
                        "x-stream-max-segment-size-bytes": .int(auditSegmentBytes),
                    ]
                ),
            ],
            bindings: [
                .init(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: ""),
                .init(queue: auditStream, exchange: requestsExchange, routingKey: "#"),
            ]
        )
    }

    /// The request queue of each server, bound to the requests exchange by the server's id,
    /// and the catalog queue (bound by ``RequestEnvelope/catalogServer``).
    public func servers(_ servers: some Sequence<String>) -> AMQPTopology {
        var topology = AMQPTopology()
        topology.queues.append(.init(name: catalogQueue, arguments: requestQueueArguments))
        topology.bindings.append(.init(queue: catalogQueue, exchange: requestsExchange, routingKey: RequestEnvelope.catalogServer))
        for server in servers {
            topology.queues.append(.init(name: queue(forServer: server), arguments: requestQueueArguments))
            topology.bindings.append(.init(queue: queue(forServer: server), exchange: requestsExchange, routingKey: server))
        }
        return topology
    }

    private var requestQueueArguments: AMQPTable {
        var arguments: AMQPTable = [
            "x-queue-type": .string(queueType.rawValue),
            "x-dead-letter-exchange": .string(deadLetterExchange),
        ]
        if queueType == .quorum { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        return arguments
    }

    /// A worker's own cancellation queue: exclusive to its connection and gone with it, so a
    /// restarted worker starts with a fresh one (cancellations are useful for seconds only).
    public func cancellations(worker: String) -> AMQPTopology {
        let queue = cancelQueue(worker: worker)
        return AMQPTopology(
            queues: [.init(name: queue, durable: false, exclusive: true, autoDelete: true, arguments: ["x-queue-type": "classic"])],
            bindings: [.init(queue: queue, exchange: cancelExchange, routingKey: "")]
        )
    }

    public func cancelQueue(worker: String) -> String {
        "\(cancelExchange).\(worker)"
    }

    /// The queue a request for `server` goes to (the catalog queue for ``RequestEnvelope/catalogServer``).
    public func queue(for envelopeServer: String) -> String {
        envelopeServer == RequestEnvelope.catalogServer ? catalogQueue : queue(forServer: envelopeServer)
    }

    /// ``base`` plus the queues of `servers`.
    public func declaration(servers: some Sequence<String>) -> AMQPTopology {
        var topology = base
        topology.merge(self.servers(servers))
        return topology
    }
}
