import Foundation
import Ingress
import Shared

GatewayLogging.bootstrap()
// Every failure was logged (one line, naming the variable for configuration errors): exit
// non-zero without a backtrace.
do {
    try await IngressServer.run()
} catch {
    exit(1)
}
