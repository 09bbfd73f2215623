import Testing

@testable import Shared

@Suite struct PostgresConfigurationTests {
    @Test func defaultsApplyWhenNothingIsSet() throws {
        let configuration = try PostgresConfiguration(environment: EnvironmentReader([:]), applicationName: "mcp-worker")
        #expect(configuration.connectionString == "")
        #expect(configuration.poolSize == 4)
        #expect(configuration.acquireTimeout == .seconds(5))
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.applicationName == "mcp-worker")
    }

    @Test func variablesAreRead() throws {
        let configuration = try PostgresConfiguration(
            environment: EnvironmentReader([
                "DATABASE_URL": "postgresql://gw@db1:5432,db2:5433/gateway?target_session_attrs=read-write",
                "PG_POOL_SIZE": "12",
                "PG_ACQUIRE_TIMEOUT_MS": "250",
                "PG_CONNECT_TIMEOUT_MS": "2500",
            ]),
            applicationName: "mcp-ingress"
        )
        #expect(configuration.poolSize == 12)
        #expect(configuration.acquireTimeout == .milliseconds(250))
        let parameters = Dictionary(configuration.connectParameters, uniquingKeysWith: { _, last in last })
        #expect(parameters["connect_timeout"] == "3")
        #expect(parameters["fallback_application_name"] == "mcp-ingress")
        #expect(parameters["client_encoding"] == "UTF8")
        #expect(configuration.redactedConnectionString.contains("target_session_attrs=read-write"))
        #expect(configuration.redactedConnectionString.contains("host=db1,db2"))
    }

    @Test(arguments: ["0", "201", "many"])
    func badPoolSizeNamesTheVariable(value: String) {
        #expect(throws: ConfigurationError.self) {
            do {
                _ = try PostgresConfiguration(environment: EnvironmentReader(["PG_POOL_SIZE": value]), applicationName: "x")
            } catch let error as ConfigurationError {
                #expect(error.variable == "PG_POOL_SIZE")
                throw error
            }
        }
    }

    @Test(arguments: [
        "postgresql://gateway:hunter2-secret@db.internal:5432/gateway",
        "host=db.internal user=gateway password=hunter2-secret dbname=gateway",
        "host=db.internal password='hunter2-secret' dbname=gateway",
        "postgresql://db.internal/gateway?user=gateway&password=hunter2-secret",
    ])
    func descriptionNeverContainsThePassword(url: String) throws {
        let configuration = try PostgresConfiguration(environment: EnvironmentReader(["DATABASE_URL": url]), applicationName: "x")
        #expect(!configuration.description.contains("hunter2"))
        #expect(configuration.description.contains("password=********"))
        #expect(configuration.description.contains("db.internal"))
    }

    @Test func malformedURLIsRefusedWithoutEchoingIt() {
        let url = "host=db password=hunter2 secret dbname=x"
        do {
            _ = try PostgresConfiguration(environment: EnvironmentReader(["DATABASE_URL": url]), applicationName: "x")
            Issue.record("a malformed DATABASE_URL was accepted")
        } catch {
            #expect(error.variable == "DATABASE_URL")
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func libpqConnectTimeoutVariableIsRespectedWhenOursIsUnset() throws {
        let configuration = try PostgresConfiguration(environment: EnvironmentReader(["PGCONNECT_TIMEOUT": "9"]), applicationName: "x")
        #expect(configuration.connectTimeout == nil)
        #expect(!configuration.connectParameters.contains { $0.0 == "connect_timeout" })
    }

    @Test func connectionStringSettingsWinOverDefaults() throws {
        let configuration = PostgresConfiguration(connectionString: "host=a connect_timeout=30", applicationName: "x")
        let keys = configuration.connectParameters.map(\.0)
        let timeout = try #require(keys.firstIndex(of: "connect_timeout"))
        let dbname = try #require(keys.firstIndex(of: "dbname"))
        // libpq lets the expanded connection string (dbname) override keywords before it.
        #expect(timeout < dbname)
    }
}
