import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// The part of an ``AMQPConnection`` that owns the librabbitmq connection and its thread.
///
/// librabbitmq connections must be used by one thread at a time, every call can block, and
/// heartbeats are only serviced while a call is in progress. So each connection gets one OS
/// thread that loops: run queued commands, `poll()` the socket and a wake-up eventfd with a
/// timeout well under the heartbeat interval, read and dispatch every frame that arrived
/// (confirms, returns, deliveries, channel and connection closes, blocked notifications), and
/// reconnect with backoff when anything breaks. Async callers never touch the connection; they
/// queue a command and await a continuation the thread resumes.
///
/// `@unchecked Sendable` is sound because the mutable state below the "thread-confined" mark
/// is only read or written on `thread` (commands are closures run there), and everything
/// other threads touch (`inbox`, `published`, `wakeFD`) is behind a `Mutex` or is a file
/// descriptor written atomically by the kernel.
final class AMQPConnectionCore: @unchecked Sendable {
    typealias Command = @Sendable (AMQPConnectionCore) throws(AMQPError) -> Void

    struct Inbox: ~Copyable {
        var commands: [Command] = []
        var closing = false
        var started = false
        var finished = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var connectWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
    }

    struct Published: ~Copyable {
        var status = AMQPConnectionStatus(connected: false, blocked: false, generation: 0, closed: false, lastError: nil)
        var observers: [UInt64: @Sendable (AMQPConnectionEvent) -> Void] = [:]
        var nextObserverID: UInt64 = 0
    }

    let configuration: AMQPConfiguration
    let logger: Logger
    let inbox = Mutex(Inbox())
    let published = Mutex(Published())
    /// A non-blocking pipe: other threads write a byte to `wakeWriteFD` to interrupt `poll()`.
    private let wakeFD: Int32
    private let wakeWriteFD: Int32

    // MARK: thread-confined state

    private var connection: amqp_connection_state_t?
    private var topology: AMQPTopology
    private var pending: [UInt64: PendingPublish] = [:]
    private var nextPublishSequence: UInt64 = 1
    private var consumers: [String: ConsumerRegistration] = [:]
    /// Open channels and the epoch each was opened in; a delivery is only ackable while its
    /// channel is still open in the same epoch.
    private var openChannels: [UInt16: UInt64] = [:]
    /// Deliveries handed to consumers and not yet settled (acked, nacked, rejected), per channel.
    private var unsettled: [UInt16: Int] = [:]
    /// Channels of cancelled consumers, kept open until their deliveries are settled so that
    /// work in flight can still be acknowledged (a graceful shutdown finishes what it started).
    private var retiredChannels: Set<UInt16> = []
    private var epochCounter: UInt64 = 0
    private var generation: UInt64 = 0
    private var blocked = false
    private var blockedReason = ""
    private var broken: AMQPError?

    static let controlChannel: UInt16 = 1
    static let publishChannel: UInt16 = 2
    private static let firstConsumerChannel: UInt16 = 3

    init(configuration: AMQPConfiguration, topology: AMQPTopology, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        var logger = logger
        logger[metadataKey: "amqp_connection"] = .string(configuration.connectionName)
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe failed: \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.wakeFD = fds[0]
        self.wakeWriteFD = fds[1]
    }

    deinit {
        close(wakeFD)
        close(wakeWriteFD)
    }

    // MARK: - Talking to the thread (any thread)

    /// Starts the thread once; later calls do nothing.
    func start() {
        let first = inbox.withLock { inbox in
            defer { inbox.started = true }
            return !inbox.started
        }
        guard first else { return }
        let thread = Thread { [self] in self.threadMain() }
        thread.name = "amqp-\(configuration.connectionName)"
        thread.start()
    }

    /// Queues `command` for the thread. Returns `false` once the connection is closing.
    @discardableResult
    func submit(_ command: @escaping Command) -> Bool {
        let accepted = inbox.withLock { inbox in
            guard !inbox.closing else { return false }
            inbox.commands.append(command)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    /// Runs `body` on the thread and returns its result to the awaiting task.
    func perform<T: Sendable>(_ body: @escaping @Sendable (AMQPConnectionCore) throws(AMQPError) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = submit { core throws(AMQPError) in
                do throws(AMQPError) {
                    continuation.resume(returning: try body(core))
                } catch {
                    continuation.resume(throwing: error)
                    // A connection-level failure also ends this connection; the loop reconnects.
                    if error.isConnectionLevel { throw error }
                }
            }
            if !accepted { continuation.resume(throwing: AMQPError(.closed, "the AMQP client is closed")) }
        }
    }

    func requestClose() {
        inbox.withLock { $0.closing = true }
        wake()
    }

    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = inbox.withLock { inbox in
                if inbox.finished || !inbox.started { return true }
                inbox.exitWaiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    func waitUntilConnected(timeout: Duration) async throws {
        let id = inbox.withLock { inbox in
            inbox.nextWaiterID += 1
            return inbox.nextWaiterID
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let (connected, closed) = self.published.withLock { ($0.status.connected, $0.status.closed) }
                        if connected { return continuation.resume() }
                        if closed { return continuation.resume(throwing: AMQPError(.closed, "the AMQP client is closed")) }
                        let registered = self.inbox.withLock { inbox in
                            guard !inbox.finished else { return false }
                            inbox.connectWaiters[id] = continuation
                            return true
                        }
                        if !registered {
                            continuation.resume(throwing: AMQPError(.closed, "the AMQP client is closed"))
                            return
                        }
                        // The state may have changed between the check and the registration.
                        if self.published.withLock({ $0.status.connected }) { self.resumeConnectWaiters() }
                    }
                } onCancel: {
                    let waiter = self.inbox.withLock { $0.connectWaiters.removeValue(forKey: id) }
                    waiter?.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let lastError = self.published.withLock { $0.status.lastError }
                throw AMQPError(.notConnected, "not connected to \(self.configuration.redactedURL) within \(timeout)" + (lastError.map { ": \($0)" } ?? ""))
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func resumeConnectWaiters() {
        let waiters = inbox.withLock { inbox in
            defer { inbox.connectWaiters.removeAll() }
            return Array(inbox.connectWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func addObserver(_ observer: @escaping @Sendable (AMQPConnectionEvent) -> Void) -> UInt64 {
        published.withLock { state in
            state.nextObserverID += 1
            state.observers[state.nextObserverID] = observer
            return state.nextObserverID
        }
    }

    func removeObserver(_ id: UInt64) {
        _ = published.withLock { $0.observers.removeValue(forKey: id) }
    }

    private func wake() {
        // A full pipe already guarantees a wake-up, so a failed write needs no handling.
        var byte: UInt8 = 1
        _ = write(wakeWriteFD, &byte, 1)
    }

    private func emit(_ event: AMQPConnectionEvent, update: (inout AMQPConnectionStatus) -> Void) {
        let observers = published.withLock { state in
            update(&state.status)
            return Array(state.observers.values)
        }
        for observer in observers { observer(event) }
    }

    // MARK: - The thread

    private func threadMain() {
        // A failed attempt or a lost connection moves on to the next address; the backoff
        // only follows a whole round of failed addresses.
        var rotation = AMQPAddressRotation(configuration.addresses)
        while !isClosing {
            let address = rotation.current
            do {
                try connect(to: address)
                rotation.connected()
                try serve()
            } catch {
                teardown(after: error)
                guard !isClosing else { break }
                guard let round = rotation.failed() else {
                    logger.warning(
                        "AMQP broker address unavailable, trying the next one",
                        metadata: [LogKeys.error: "\(error)", "amqp_address": "\(address)", "amqp_next_address": "\(rotation.current)"]
                    )
                    try? runCommands()  // commands queued meanwhile fail fast (`notConnected`), as while waiting
                    continue
                }
                let delay = backoff(attempt: round)
                logger.warning(
                    "AMQP connection unavailable, retrying",
                    metadata: [
                        LogKeys.error: "\(error)", "amqp_address": "\(address)", "amqp_retry_in_ms": "\(delay.milliseconds)",
                        "amqp_attempt": "\(round)",
                    ]
                )
                waitForWake(timeoutMilliseconds: Int32(clamping: delay.milliseconds), failCommandsWhileWaiting: true)
            }
        }
        shutdown()
    }

    private var isClosing: Bool { inbox.withLock { $0.closing } }

    private func backoff(attempt: Int) -> Duration {
        let minimum = Double(configuration.reconnectMinimum.milliseconds)
        let maximum = Double(configuration.reconnectMaximum.milliseconds)
        let exponential = min(maximum, minimum * pow(2, Double(min(attempt - 1, 30))))
        // Full jitter over the upper half, so a fleet of workers does not reconnect in step.
        return .milliseconds(Int64(exponential * Double.random(in: 0.5...1.0)))
    }

    /// Sleeps until woken or until the timeout. While disconnected, queued commands are run
    /// so that they fail fast (`notConnected`) instead of waiting for the next connection.
    private func waitForWake(timeoutMilliseconds: Int32, failCommandsWhileWaiting: Bool) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutMilliseconds))
        while !isClosing {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return }
            var descriptor = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(clamping: max(1, left.milliseconds)))
            drainWake()
            if failCommandsWhileWaiting { try? runCommands() }
        }
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakeFD, &buffer, buffer.count) > 0 {}
    }

    private func runCommands() throws(AMQPError) {
        let commands = inbox.withLock { inbox in
            defer { inbox.commands.removeAll(keepingCapacity: true) }
            return inbox.commands
        }
        for command in commands {
            do {
                try command(self)
            } catch {
                if error.isConnectionLevel { broken = broken ?? error }
            }
            if let broken { throw broken }
        }
    }

    // MARK: Connecting

    private func connect(to address: AMQPAddress) throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw AMQPError(.connectionFailed, "out of memory") }
        connection = state
        broken = nil
        _ = try openSocket(state, address)
        var handshake = timeval(configuration.handshakeTimeout)
        amqp_set_handshake_timeout(state, &handshake)
        var rpc = timeval(configuration.rpcTimeout)
        amqp_set_rpc_timeout(state, &rpc)

        let arena = CArena()
        var clientProperties = arena.table(clientPropertiesTable())
        let login = mcpgw_amqp_login_plain(
            state, configuration.virtualHost, 0, Int32(configuration.frameMax), Int32(configuration.heartbeatSeconds),
            &clientProperties, configuration.user, configuration.password
        )
        guard login.reply_type == AMQP_RESPONSE_NORMAL else {
            var error = amqpError(login, context: "login to \(address) (\(configuration.redactedURL))")
            error.code = .connectionFailed
            throw error
        }

        try openChannel(Self.controlChannel)
        try openChannel(Self.publishChannel)
        amqp_confirm_select(state, Self.publishChannel)
        try check(amqp_get_rpc_reply(state), "confirm.select", channel: Self.publishChannel)
        nextPublishSequence = 1
        blocked = false

        try declare(topology)
        for registration in consumers.values.sorted(by: { $0.sequence < $1.sequence }) {
            registration.active = false
            registration.channel = 0
            if !registration.paused { try subscribe(registration) }
        }

        generation += 1
        let generation = self.generation
        logger.info(
            "AMQP connected",
            metadata: ["amqp_address": "\(address)", "amqp_url": "\(configuration.redactedURL)", "amqp_generation": "\(generation)"]
        )
        emit(.connected(generation: generation)) { status in
            status.connected = true
            status.address = address
            status.blocked = false
            status.generation = generation
            status.lastError = nil
        }
        resumeConnectWaiters()
    }

    private func openSocket(_ state: amqp_connection_state_t, _ address: AMQPAddress) throws(AMQPError) -> OpaquePointer {
        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.tls, "could not create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            var status = amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.tls, "cannot require TLS 1.2: \(statusString(status))") }
            if let caFile = tls.caFile {
                status = amqp_ssl_socket_set_cacert(socket, caFile)
                guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.tls, "cannot load CA file \(caFile): \(statusString(status))") }
            } else if mcpgw_amqp_ssl_use_default_verify_paths(socket) != 1 {
                throw AMQPError(.tls, "cannot load the system's CA certificates")
            }
            if let certificate = tls.certificateFile, let key = tls.keyFile {
                status = amqp_ssl_socket_set_key(socket, certificate, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(.tls, "cannot load client certificate \(certificate) / key \(key): \(statusString(status))")
                }
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError(.connectionFailed, "could not create a socket") }
        var timeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, address.host, Int32(address.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            let code: AMQPError.Code = status == AMQP_STATUS_SSL_ERROR.rawValue || status == AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue
                || status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue || status == AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue
                ? .tls : .connectionFailed
            throw AMQPError(code, "cannot connect to \(address): \(statusString(status))")
        }
        return socket
    }

    private func clientPropertiesTable() -> AMQPTable {
        [
            "connection_name": .string(configuration.connectionName),
            "product": "mcp-queue-gateway",
            "platform": "Swift",
            "information": .string("librabbitmq \(String(cString: amqp_version()))"),
            "capabilities": .table([
                "publisher_confirms": true,
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "basic.nack": true,
                "authentication_failure_close": true,
                "exchange_exchange_bindings": true,
            ]),
        ]
    }

    private func openChannel(_ channel: UInt16) throws(AMQPError) {
        guard let connection else { throw AMQPError(.notConnected, "not connected") }
        amqp_channel_open(connection, channel)
        let reply = amqp_get_rpc_reply(connection)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            var error = amqpError(reply, context: "channel.open \(channel)")
            error.code = .connectionLost
            throw error
        }
        epochCounter += 1
        openChannels[channel] = epochCounter
        unsettled[channel] = 0
    }

    /// Checks a synchronous call's reply. A channel-level refusal (404, 406, ...) is answered
    /// with `channel.close-ok`, the channel reopened, and the refusal thrown to the caller
    /// alone; anything else means the connection is gone.
    private func check(_ reply: amqp_rpc_reply_t, _ context: String, channel: UInt16) throws(AMQPError) {
        guard reply.reply_type != AMQP_RESPONSE_NORMAL else { return }
        let error = amqpError(reply, context: context)
        guard let connection else { throw error }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
            var ok = amqp_channel_close_ok_t(dummy: 0)
            amqp_send_method(connection, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            openChannels[channel] = nil
            try reopenAfterClose(channel)
            throw error
        }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD {
            var ok = amqp_connection_close_ok_t(dummy: 0)
            amqp_send_method(connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
        }
        var lost = error
        if lost.code != .connectionClosedByBroker { lost.code = .connectionLost }
        throw lost
    }

    /// Brings a channel the broker closed back into service: the publish channel with confirm
    /// mode (its unconfirmed publishes have failed), a consumer's channel with its consumer.
    private func reopenAfterClose(_ channel: UInt16) throws(AMQPError) {
        if channel == Self.publishChannel {
            failPending(AMQPError(.channelClosed, "the publish channel was closed by the broker"))
            try openChannel(channel)
            amqp_confirm_select(connection, channel)
            try check(amqp_get_rpc_reply(connection), "confirm.select", channel: channel)
            nextPublishSequence = 1
            for registration in consumers.values where registration.onPublishChannel {
                registration.active = false
                registration.retryAt = .now
            }
        } else if channel == Self.controlChannel {
            try openChannel(channel)
        } else {
            for registration in consumers.values where registration.channel == channel {
                registration.active = false
                registration.retryAt = .now
            }
        }
    }

    // MARK: Serving

    private func serve() throws(AMQPError) {
        guard let connection else { return }
        let socketFD = amqp_get_sockfd(connection)
        while !isClosing {
            try runCommands()
            expirePublishes()
            try resubscribeDueConsumers()
            if amqp_frames_enqueued(connection) == 0 && amqp_data_in_buffer(connection) == 0 {
                var descriptors = [
                    pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
                ]
                let result = poll(&descriptors, 2, pollTimeoutMilliseconds())
                if result < 0 && errno != EINTR {
                    throw AMQPError(.connectionLost, "poll failed: \(String(cString: strerror(errno)))")
                }
                if descriptors[1].revents != 0 { drainWake() }
            }
            // Reading with a zero timeout also sends a heartbeat when one is due and notices a
            // silent broker (two missed intervals).
            try readFrames()
            amqp_maybe_release_buffers(connection)
        }
    }

    private func pollTimeoutMilliseconds() -> Int32 {
        var timeout: Int64 = 1000
        if configuration.heartbeatSeconds > 0 {
            timeout = min(timeout, Int64(configuration.heartbeatSeconds) * 1000 / 4)
        }
        let now = ContinuousClock.now
        if let earliest = pending.values.map(\.deadline).min() {
            timeout = min(timeout, max(1, now.duration(to: earliest).milliseconds + 1))
        }
        if let retry = consumers.values.compactMap(\.retryAt).min() {
            timeout = min(timeout, max(1, now.duration(to: retry).milliseconds + 1))
        }
        return Int32(clamping: max(1, timeout))
    }

    private func readFrames() throws(AMQPError) {
        guard let connection else { return }
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        for _ in 0..<512 {
            var frame = amqp_frame_t()
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.connectionLost, "reading from the broker: \(statusString(status))")
            }
            try dispatch(frame)
            if let broken { throw broken }
        }
    }

    private func dispatch(_ frame: amqp_frame_t) throws(AMQPError) {
        guard let connection else { return }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else {
            // Content frames only follow a deliver or return, which read them whole.
            throw AMQPError(.protocolError, "unexpected frame type \(frame.frame_type) on channel \(frame.channel)")
        }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, error: nil)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, error: AMQPError(.nacked, "the broker refused the message"))
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let message = try readMessage(channel: frame.channel)
            markReturned(
                exchange: returned.exchange.string, routingKey: returned.routing_key.string, messageID: message.properties.messageID,
                error: AMQPError(.noRoute, "\(returned.reply_text.string): no queue is bound for '\(returned.routing_key.string)' on exchange '\(returned.exchange.string)'", replyCode: returned.reply_code)
            )
        case AMQP_BASIC_DELIVER_METHOD:
            let header = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let message = try readMessage(channel: frame.channel)
            deliver(
                AMQPDelivery(
                    body: message.body, properties: message.properties, exchange: header.exchange.string,
                    routingKey: header.routing_key.string, redelivered: header.redelivered != 0, deliveryTag: header.delivery_tag,
                    consumerTag: header.consumer_tag.string, channel: frame.channel, generation: openChannels[frame.channel] ?? 0
                )
            )
        case AMQP_BASIC_CANCEL_METHOD:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = cancel.consumer_tag.string
            if let registration = consumers[tag] {
                logger.warning("AMQP consumer cancelled by the broker; resubscribing", metadata: [LogKeys.queue: "\(registration.queue)"])
                registration.active = false
                registration.retryAt = .now + configuration.reconnectMinimum
            }
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var ok = amqp_channel_close_ok_t(dummy: 0)
            amqp_send_method(connection, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            openChannels[frame.channel] = nil
            logger.warning(
                "AMQP channel closed by the broker",
                metadata: ["amqp_channel": "\(frame.channel)", "amqp_reply_code": "\(close.reply_code)", LogKeys.error: "\(close.reply_text.string)"]
            )
            if frame.channel == Self.publishChannel {
                failPending(AMQPError(.channelClosed, close.reply_text.string, replyCode: close.reply_code))
            }
            try reopenAfterClose(frame.channel)
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var ok = amqp_connection_close_ok_t(dummy: 0)
            amqp_send_method(connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            throw AMQPError(.connectionClosedByBroker, close.reply_text.string, replyCode: close.reply_code)
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let notice = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            blocked = true
            blockedReason = notice.reason.string
            logger.warning("AMQP broker is blocking publishers", metadata: ["amqp_reason": "\(blockedReason)"])
            // Publishes awaiting a confirm would now wait for as long as the alarm lasts; the
            // caller gets a prompt answer instead. The broker may still route them later.
            failPending(AMQPError(.blocked, "the broker is blocking publishers: \(blockedReason)"))
            emit(.blocked(reason: blockedReason)) { $0.blocked = true }
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            blocked = false
            logger.info("AMQP broker unblocked publishers")
            emit(.unblocked) { $0.blocked = false }
        default:
            // cancel-ok and other replies that no synchronous call is waiting for.
            break
        }
    }

    private struct Message {
        var body: [UInt8]
        var properties: AMQPProperties
    }

    private func readMessage(channel: UInt16) throws(AMQPError) -> Message {
        var message = amqp_message_t()
        let reply = amqp_read_message(connection, channel, &message, 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(.connectionLost, amqpError(reply, context: "reading a message").message)
        }
        defer { amqp_destroy_message(&message) }
        return Message(body: message.body.array, properties: AMQPProperties(message.properties))
    }

    // MARK: Publishing

    struct PendingPublish {
        var continuation: CheckedContinuation<Void, any Error>
        var exchange: String
        var routingKey: String
        var messageID: String?
        var deadline: ContinuousClock.Instant
        var returned: AMQPError?
    }

    func publish(
        body: [UInt8], exchange: String, routingKey: String, properties: AMQPProperties, mandatory: Bool, timeout: Duration,
        continuation: CheckedContinuation<Void, any Error>
    ) throws(AMQPError) {
        guard let connection, broken == nil else {
            continuation.resume(throwing: AMQPError(.notConnected, "not connected to the broker (reconnecting)"))
            return
        }
        guard !blocked else {
            continuation.resume(throwing: AMQPError(.blocked, "the broker is blocking publishers: \(blockedReason)"))
            return
        }
        let arena = CArena()
        var cProperties = arena.properties(properties)
        let status = body.withUnsafeBytes { buffer in
            amqp_basic_publish(
                connection, Self.publishChannel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &cProperties,
                amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
            )
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = AMQPError(.connectionLost, "publish failed: \(statusString(status))")
            continuation.resume(throwing: error)
            throw error
        }
        pending[nextPublishSequence] = PendingPublish(
            continuation: continuation, exchange: exchange, routingKey: routingKey, messageID: properties.messageID,
            deadline: .now + timeout, returned: nil
        )
        nextPublishSequence += 1
    }

    private func confirm(upTo tag: UInt64, multiple: Bool, error: AMQPError?) {
        let tags = multiple ? pending.keys.filter { $0 <= tag } : (pending[tag] == nil ? [] : [tag])
        for tag in tags {
            guard let publish = pending.removeValue(forKey: tag) else { continue }
            if let failure = error ?? publish.returned {
                publish.continuation.resume(throwing: failure)
            } else {
                publish.continuation.resume()
            }
        }
    }

    /// A `basic.return` precedes the confirm of the same message; remember it on the pending
    /// publish (matched by message id, else the oldest one with the same address).
    private func markReturned(exchange: String, routingKey: String, messageID: String?, error: AMQPError) {
        let candidates = pending.filter { $0.value.returned == nil && $0.value.exchange == exchange && $0.value.routingKey == routingKey }
        let match = messageID.flatMap { id in candidates.filter { $0.value.messageID == id }.keys.min() } ?? candidates.keys.min()
        if let match { pending[match]?.returned = error }
    }

    private func expirePublishes() {
        let now = ContinuousClock.now
        for (tag, publish) in pending where publish.deadline <= now {
            pending[tag] = nil
            publish.continuation.resume(throwing: AMQPError(.publishTimeout, "no confirm from the broker in time; the message may still be routed"))
        }
    }

    private func failPending(_ error: AMQPError) {
        let failed = pending
        pending.removeAll()
        for publish in failed.values { publish.continuation.resume(throwing: error) }
    }

    // MARK: Consuming

    func addConsumer(_ registration: ConsumerRegistration) throws(AMQPError) {
        consumers[registration.tag] = registration
        guard connection != nil, broken == nil else { return }  // subscribed once connected
        do {
            try subscribe(registration)
        } catch {
            consumers[registration.tag] = nil
            throw error
        }
    }

    private func subscribe(_ registration: ConsumerRegistration) throws(AMQPError) {
        guard let connection else { throw AMQPError(.notConnected, "not connected") }
        let channel: UInt16
        if registration.onPublishChannel {
            channel = Self.publishChannel
        } else {
            channel = registration.channel != 0 && openChannels[registration.channel] != nil ? registration.channel : freeChannel()
            if openChannels[channel] == nil { try openChannel(channel) }
            amqp_basic_qos(connection, channel, 0, registration.prefetch, 0)
            try check(amqp_get_rpc_reply(connection), "basic.qos", channel: channel)
        }
        registration.channel = channel
        let arena = CArena()
        amqp_basic_consume(
            connection, channel, arena.bytes(registration.queue), arena.bytes(registration.tag), 0, registration.noAck ? 1 : 0,
            registration.exclusive ? 1 : 0, arena.table(registration.arguments)
        )
        try check(amqp_get_rpc_reply(connection), "basic.consume from '\(registration.queue)'", channel: channel)
        registration.active = true
        registration.retryAt = nil
        registration.failures = 0
    }

    private func freeChannel() -> UInt16 {
        var channel = Self.firstConsumerChannel
        let used = Set(consumers.values.filter { !$0.onPublishChannel && $0.channel != 0 }.map(\.channel))
        while openChannels[channel] != nil || used.contains(channel) { channel += 1 }
        return channel
    }

    private func resubscribeDueConsumers() throws(AMQPError) {
        let now = ContinuousClock.now
        for registration in consumers.values where !registration.active && !registration.paused {
            guard let retryAt = registration.retryAt, retryAt <= now else { continue }
            do {
                try subscribe(registration)
                logger.info("AMQP consumer resubscribed", metadata: [LogKeys.queue: "\(registration.queue)"])
            } catch where !error.isConnectionLevel {
                registration.failures += 1
                registration.retryAt = .now + backoff(attempt: registration.failures)
                logger.warning("AMQP consumer cannot resubscribe yet", metadata: [LogKeys.queue: "\(registration.queue)", LogKeys.error: "\(error)"])
            }
        }
    }

    /// `basic.cancel`, and the end of the consumer's sequence. Deliveries already handed out stay
    /// acknowledgeable: the consumer's channel closes once they are all settled (or with the
    /// connection), and only then does the broker requeue what was never settled.
    func cancelConsumer(tag: String) throws(AMQPError) {
        guard let registration = consumers.removeValue(forKey: tag) else { return }
        registration.continuation.finish()
        guard connection != nil else { return }
        if registration.active { try basicCancel(registration) }
        if !registration.onPublishChannel, registration.channel != 0, openChannels[registration.channel] != nil {
            retiredChannels.insert(registration.channel)
            try closeRetiredChannelIfSettled(registration.channel)
        }
    }

    /// Stops the broker's deliveries to a consumer (`basic.cancel`) without ending its sequence:
    /// it resumes with ``resumeConsumer(tag:)``. Its channel stays open, so what was delivered
    /// can still be acknowledged. For a worker that must not take work it could not answer.
    func pauseConsumer(tag: String) throws(AMQPError) {
        guard let registration = consumers[tag], !registration.paused else { return }
        registration.paused = true
        registration.retryAt = nil
        if registration.active, connection != nil { try basicCancel(registration) }
    }

    func resumeConsumer(tag: String) throws(AMQPError) {
        guard let registration = consumers[tag], registration.paused else { return }
        registration.paused = false
        guard !registration.active else { return }
        registration.retryAt = .now
        if connection != nil, broken == nil { try resubscribeDueConsumers() }
    }

    private func basicCancel(_ registration: ConsumerRegistration) throws(AMQPError) {
        guard let connection else { return }
        let arena = CArena()
        amqp_basic_cancel(connection, registration.channel, arena.bytes(registration.tag))
        try check(amqp_get_rpc_reply(connection), "basic.cancel", channel: registration.channel)
        registration.active = false
    }

    /// Closes a cancelled consumer's channel once nothing delivered on it awaits settlement.
    private func closeRetiredChannelIfSettled(_ channel: UInt16) throws(AMQPError) {
        guard let connection, retiredChannels.contains(channel), (unsettled[channel] ?? 0) == 0,
            !consumers.values.contains(where: { $0.channel == channel })
        else { return }
        retiredChannels.remove(channel)
        guard openChannels[channel] != nil else { return }
        amqp_channel_close(connection, channel, Int32(AMQP_REPLY_SUCCESS))
        openChannels[channel] = nil
        unsettled[channel] = nil
        try check(amqp_get_rpc_reply(connection), "channel.close", channel: channel)
    }

    private func deliver(_ delivery: AMQPDelivery) {
        if let registration = consumers[delivery.consumerTag], registration.channel == delivery.channel {
            if !registration.noAck { unsettled[delivery.channel, default: 0] += 1 }
            registration.continuation.yield(delivery)
            return
        }
        // A straggler for a consumer we cancelled: give it back unless it was never ackable.
        guard let connection, openChannels[delivery.channel] != nil, delivery.channel != Self.publishChannel else { return }
        amqp_basic_nack(connection, delivery.channel, delivery.deliveryTag, 0, 1)
    }

    // MARK: Acknowledging

    enum Acknowledgement: Sendable {
        case ack(multiple: Bool)
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    func acknowledge(_ delivery: AMQPDelivery, _ kind: Acknowledgement) throws(AMQPError) {
        guard let connection, broken == nil, openChannels[delivery.channel] == delivery.generation, delivery.generation != 0 else {
            throw AMQPError(.staleDelivery, "the delivery's channel is gone; the broker has requeued the message")
        }
        let status: Int32
        switch kind {
        case .ack(let multiple): status = amqp_basic_ack(connection, delivery.channel, delivery.deliveryTag, multiple ? 1 : 0)
        case .nack(let requeue): status = amqp_basic_nack(connection, delivery.channel, delivery.deliveryTag, 0, requeue ? 1 : 0)
        case .reject(let requeue): status = amqp_basic_reject(connection, delivery.channel, delivery.deliveryTag, requeue ? 1 : 0)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "acknowledgement failed: \(statusString(status))")
        }
        if case .ack(multiple: true) = kind {
            unsettled[delivery.channel] = 0
        } else {
            unsettled[delivery.channel] = max(0, (unsettled[delivery.channel] ?? 1) - 1)
        }
        // The acknowledgement went out; a failure to close a drained channel is not the caller's.
        do {
            try closeRetiredChannelIfSettled(delivery.channel)
        } catch where error.isConnectionLevel {
            broken = broken ?? error
        } catch {
            logger.debug("AMQP channel of a cancelled consumer not closed", metadata: [LogKeys.error: "\(error)"])
        }
    }

    // MARK: Topology and queue operations (on the control channel)

    func declare(_ topology: AMQPTopology, remember: Bool = false) throws(AMQPError) {
        guard let connection else { throw AMQPError(.notConnected, "not connected to the broker (reconnecting)") }
        let channel = Self.controlChannel
        for exchange in topology.exchanges {
            let arena = CArena()
            amqp_exchange_declare(
                connection, channel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue), 0, exchange.durable ? 1 : 0,
                exchange.autoDelete ? 1 : 0, exchange.isInternal ? 1 : 0, arena.table(exchange.arguments)
            )
            try check(amqp_get_rpc_reply(connection), "exchange.declare '\(exchange.name)'", channel: channel)
        }
        for queue in topology.queues {
            let arena = CArena()
            amqp_queue_declare(
                connection, channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0,
                arena.table(queue.arguments)
            )
            try check(amqp_get_rpc_reply(connection), "queue.declare '\(queue.name)'", channel: channel)
        }
        for binding in topology.bindings {
            let arena = CArena()
            amqp_queue_bind(
                connection, channel, arena.bytes(binding.queue), arena.bytes(binding.exchange), arena.bytes(binding.routingKey),
                arena.table(binding.arguments)
            )
            try check(amqp_get_rpc_reply(connection), "queue.bind '\(binding.queue)' to '\(binding.exchange)'", channel: channel)
        }
        if remember { self.topology.merge(topology) }
    }

    func queueStatus(_ name: String) throws(AMQPError) -> AMQPQueueStatus {
        guard let connection else { throw AMQPError(.notConnected, "not connected to the broker (reconnecting)") }
        let arena = CArena()
        let ok = amqp_queue_declare(connection, Self.controlChannel, arena.bytes(name), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(connection), "queue.declare (passive) '\(name)'", channel: Self.controlChannel)
        guard let ok else { throw AMQPError(.protocolError, "queue.declare-ok without a body") }
        return AMQPQueueStatus(messages: ok.pointee.message_count, consumers: ok.pointee.consumer_count)
    }

    func deleteQueue(_ name: String) throws(AMQPError) {
        guard let connection else { throw AMQPError(.notConnected, "not connected to the broker (reconnecting)") }
        let arena = CArena()
        amqp_queue_delete(connection, Self.controlChannel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(connection), "queue.delete '\(name)'", channel: Self.controlChannel)
        topology.queues.removeAll { $0.name == name }
        topology.bindings.removeAll { $0.queue == name }
    }

    func deleteExchange(_ name: String) throws(AMQPError) {
        guard let connection else { throw AMQPError(.notConnected, "not connected to the broker (reconnecting)") }
        let arena = CArena()
        amqp_exchange_delete(connection, Self.controlChannel, arena.bytes(name), 0)
        try check(amqp_get_rpc_reply(connection), "exchange.delete '\(name)'", channel: Self.controlChannel)
        topology.exchanges.removeAll { $0.name == name }
        topology.bindings.removeAll { $0.exchange == name }
    }

    /// `basic.get` with automatic acknowledgement: takes one message off a queue, if any.
    func get(_ queue: String) throws(AMQPError) -> AMQPDelivery? {
        guard let connection else { throw AMQPError(.notConnected, "not connected to the broker (reconnecting)") }
        let arena = CArena()
        let reply = amqp_basic_get(connection, Self.controlChannel, arena.bytes(queue), 1)
        try check(reply, "basic.get '\(queue)'", channel: Self.controlChannel)
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD else { return nil }
        let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let message = try readMessage(channel: Self.controlChannel)
        return AMQPDelivery(
            body: message.body, properties: message.properties, exchange: ok.exchange.string, routingKey: ok.routing_key.string,
            redelivered: ok.redelivered != 0, deliveryTag: ok.delivery_tag, consumerTag: "", channel: Self.controlChannel, generation: 0
        )
    }

    // MARK: Tearing down

    private func teardown(after error: any Error) {
        let failure = (error as? AMQPError) ?? AMQPError(.connectionLost, "\(error)")
        if let connection {
            // After a socket or protocol error the only safe call is destroy (rabbitmq-c #456).
            amqp_destroy_connection(connection)
            self.connection = nil
        }
        openChannels.removeAll()
        unsettled.removeAll()
        retiredChannels.removeAll()
        blocked = false
        // The broker's reply code (541 INTERNAL_ERROR when a publish itself made it close the
        // connection) stays on the error, so a caller can tell a poisoned message from a lost link.
        failPending(
            AMQPError(
                .connectionLost, "the connection to the broker was lost (\(failure.message)); the message may or may not have been routed",
                replyCode: failure.replyCode
            )
        )
        for registration in consumers.values {
            registration.active = false
            registration.retryAt = nil
        }
        let wasConnected = published.withLock { $0.status.connected }
        if wasConnected { logger.warning("AMQP connection lost", metadata: [LogKeys.error: "\(failure)"]) }
        emit(.disconnected(failure)) { status in
            status.connected = false
            status.address = nil
            status.blocked = false
            status.lastError = failure.description
        }
    }

    private func shutdown() {
        if let connection {
            for registration in consumers.values where registration.active {
                amqp_basic_cancel(connection, registration.channel, CArena().bytes(registration.tag))
            }
            amqp_connection_close(connection, Int32(AMQP_REPLY_SUCCESS))
            amqp_destroy_connection(connection)
            self.connection = nil
        }
        failPending(AMQPError(.closed, "the AMQP client was closed before the broker confirmed"))
        for registration in consumers.values { registration.continuation.finish() }
        consumers.removeAll()
        let (commands, exitWaiters, connectWaiters) = inbox.withLock { inbox in
            inbox.closing = true
            inbox.finished = true
            defer {
                inbox.commands.removeAll()
                inbox.exitWaiters.removeAll()
                inbox.connectWaiters.removeAll()
            }
            return (inbox.commands, inbox.exitWaiters, Array(inbox.connectWaiters.values))
        }
        // Commands queued during shutdown see no connection and fail with `notConnected`.
        for command in commands { try? command(self) }
        for waiter in connectWaiters { waiter.resume(throwing: AMQPError(.closed, "the AMQP client is closed")) }
        logger.info("AMQP connection closed")
        emit(.closed) { status in
            status.connected = false
            status.closed = true
        }
        for waiter in exitWaiters { waiter.resume() }
    }
}

/// A consumer as the connection thread tracks it across reconnects.
///
/// `@unchecked Sendable`: its mutable fields are only touched on the connection's thread;
/// the continuation is itself thread-safe.
final class ConsumerRegistration: @unchecked Sendable {
    let tag: String
    let queue: String
    let prefetch: UInt16
    let arguments: AMQPTable
    let noAck: Bool
    let exclusive: Bool
    /// Direct reply-to needs the consumer on the channel that publishes the requests.
    let onPublishChannel: Bool
    let sequence: UInt64
    let continuation: AsyncStream<AMQPDelivery>.Continuation

    var channel: UInt16 = 0
    var active = false
    /// Paused by the application (``AMQPConnectionCore/pauseConsumer(tag:)``): not subscribed
    /// again until resumed, across reconnects too.
    var paused = false
    var retryAt: ContinuousClock.Instant?
    var failures = 0

    init(
        tag: String, queue: String, prefetch: UInt16, arguments: AMQPTable, noAck: Bool, exclusive: Bool, onPublishChannel: Bool,
        sequence: UInt64, continuation: AsyncStream<AMQPDelivery>.Continuation
    ) {
        self.tag = tag
        self.queue = queue
        self.prefetch = prefetch
        self.arguments = arguments
        self.noAck = noAck
        self.exclusive = exclusive
        self.onPublishChannel = onPublishChannel
        self.sequence = sequence
        self.continuation = continuation
    }
}

extension AMQPError {
    /// Whether the error ends the connection (and recovery takes over), rather than one call.
    var isConnectionLevel: Bool {
        code == .connectionLost || code == .connectionClosedByBroker || code == .protocolError
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
