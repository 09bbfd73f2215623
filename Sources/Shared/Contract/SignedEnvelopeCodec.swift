import Foundation

/// The one way request envelopes are turned into AMQP message bodies and headers, and back.
///
/// ``decode(body:headers:)`` checks in an order that keeps hostile bytes away from the parser:
/// 1. the signature over the raw body (`.unsigned`, `.unknownKey`, `.badSignature`);
/// 2. JSON decoding, with a nesting limit checked first (`.malformed`);
/// 3. the contract version `v` (`.unsupportedVersion`);
/// 4. ``RequestEnvelope/validate()`` (`.invalid`).
///
/// It does not look at the clock: an envelope past its deadline is valid, and answering
/// `deadline_exceeded` is the worker's decision.
public struct SignedEnvelopeCodec: Sendable {
    public let signer: EnvelopeSigner

    public init(signer: EnvelopeSigner) {
        self.signer = signer
    }

    /// The body and headers to publish. The envelope is validated first, so an ingress cannot
    /// send what every worker would refuse. Set the AMQP `message_id` and `correlation_id` to the
    /// envelope's `callID` and `expiration` to ``ContractHeaders/expiration(deadline:now:)``.
    public func encode(_ envelope: RequestEnvelope) throws(EnvelopeError) -> (body: [UInt8], headers: [String: String]) {
        do {
            try envelope.validate()
        } catch {
            throw .invalid(error.description)
        }
        let body: [UInt8]
        do {
            body = Array(try ContractJSON.encoder.encode(envelope))
        } catch {
            // Only a non-finite number in the arguments gets here.
            throw .invalid("envelope cannot be encoded as JSON: \(error)")
        }
        let (keyID, signature) = signer.sign(body: body)
        var headers = envelope.headers
        headers[ContractHeaders.signatureKeyID] = keyID
        headers[ContractHeaders.signature] = signature
        return (body, headers)
    }

    /// The verified, decoded and validated envelope in `body`.
    public func decode(body: [UInt8], headers: [String: String]) throws(EnvelopeError) -> RequestEnvelope {
        guard let signature = headers[ContractHeaders.signature], !signature.isEmpty,
            let keyID = headers[ContractHeaders.signatureKeyID], !keyID.isEmpty
        else { throw .unsigned }
        try signer.verify(body: body, keyID: keyID, signature: signature)

        let envelope = try ContractJSON.decodeMessage(RequestEnvelope.self, from: body)
        do {
            try envelope.validate()
        } catch {
            throw .invalid(error.description)
        }
        return envelope
    }
}
