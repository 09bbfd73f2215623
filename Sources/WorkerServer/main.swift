import Foundation
import Shared
import Worker

GatewayLogging.bootstrap()
// Every failure was logged (one line, naming the variable for configuration errors): exit
// non-zero without a backtrace.
do {
    try await WorkerServer.run()
} catch {
    exit(1)
}
