import Ingress
import Shared

GatewayLogging.bootstrap()
try await IngressServer.run()
