namespace BpfTraceSim.Silo;

/// <summary>
/// TLS for silo-to-silo and client-to-gateway connections (section BpfSim:Tls). The silo needs a certificate;
/// a client needs one when the silos require client certificates (the default).
/// </summary>
public sealed class SimTlsOptions
{
    /// <summary>This end's certificate: a PKCS#12 file (.pfx/.p12) or a PEM file. Setting it turns TLS on.</summary>
    public string? CertificatePath { get; set; }
    /// <summary>PEM private key, when CertificatePath is PEM and does not hold the key itself.</summary>
    public string? KeyPath { get; set; }
    /// <summary>Password of the PKCS#12 file, or of an encrypted PEM key.</summary>
    public string? Password { get; set; }
    /// <summary>PEM file with the CA certificate(s) the other end's certificate must chain to; null: the system trust store.</summary>
    public string? CaPath { get; set; }
    /// <summary>Silo: refuse connections (clients and silos) that present no trusted certificate.</summary>
    public bool RequireClientCertificate { get; set; } = true;

    /// <summary>Silo side: TLS is on when a certificate is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <summary>Client side: TLS is on when a certificate or a CA to check the silos against is configured.</summary>
    public bool ClientEnabled => Enabled || !string.IsNullOrWhiteSpace(CaPath);
}
