import Crypto
import Foundation
import Testing

@testable import Shared

@Suite struct CancellationMessageTests {
    @Test func cancellationsAreSignedByTheIngress() throws {
        let signer = EnvelopeSigner(currentKeyID: "k", currentKey: .init(size: .bits256))
        let (body, headers) = try CancellationMessage(callID: "c", reason: "r").signed(with: signer)
        #expect(try CancellationMessage(verifying: body, headers: headers, signer: signer).callID == "c")
        let forger = EnvelopeSigner(currentKeyID: "k", currentKey: .init(size: .bits256))
        #expect(throws: EnvelopeError.badSignature) { try CancellationMessage(verifying: body, headers: headers, signer: forger) }
        #expect(throws: EnvelopeError.unsigned) { try CancellationMessage(verifying: body, headers: [:], signer: signer) }
    }

    @Test func aCancellationRoundTripsThroughItsWireForm() throws {
        let message = CancellationMessage(callID: "c", issuedAt: Date(timeIntervalSince1970: 1_767_225_600), reason: String(repeating: "x", count: 1000))
        let decoded = try ContractJSON.decodeMessage(CancellationMessage.self, from: try ContractJSON.encodeMessage(message, what: "cancellation"))
        #expect(decoded == message)
        #expect(decoded.reason?.count == 256)
    }
}
