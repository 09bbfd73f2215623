import Shared
import Worker

GatewayLogging.bootstrap()
try await WorkerServer.run()
