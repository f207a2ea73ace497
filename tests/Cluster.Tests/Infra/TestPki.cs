using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BpfTraceSim.Silo;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>
/// A throwaway PKI in a temp directory: the cluster's CA with a silo certificate (PKCS#12 + password) and a client
/// certificate (PEM cert + PEM key), and a rogue CA of the same name with its own client certificate.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public const string Password = "test-pfx-password";

    public TestPki()
    {
        Dir = Directory.CreateTempSubdirectory("bpfsim-pki-").FullName;
        using var ca = CreateCa("bpfsim-test-ca");
        using var rogueCa = CreateCa("bpfsim-test-ca"); // same name, other key: only the key makes trust
        CaPath = WritePem("ca.pem", ca);
        RogueCaPath = WritePem("rogue-ca.pem", rogueCa);

        using var silo = Issue(ca, "bpfsim-silo");
        SiloPfx = Path.Combine(Dir, "silo.pfx");
        File.WriteAllBytes(SiloPfx, silo.Export(X509ContentType.Pkcs12, Password));

        using var client = Issue(ca, "bpfsim-client");
        (ClientPem, ClientKey) = WritePemPair("client", client);
        using var rogue = Issue(rogueCa, "bpfsim-client");
        (RoguePem, RogueKey) = WritePemPair("rogue", rogue);
    }

    public string Dir { get; }
    public string CaPath { get; }
    public string RogueCaPath { get; }
    public string SiloPfx { get; }
    public string ClientPem { get; }
    public string ClientKey { get; }
    public string RoguePem { get; }
    public string RogueKey { get; }

    public SimTlsOptions Silo => new() { CertificatePath = SiloPfx, Password = Password, CaPath = CaPath };
    public SimTlsOptions Client => new() { CertificatePath = ClientPem, KeyPath = ClientKey, CaPath = CaPath };
    public SimTlsOptions Rogue => new() { CertificatePath = RoguePem, KeyPath = RogueKey, CaPath = CaPath };

    public static X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
    }

    /// <summary>A leaf for both TLS ends (silos are servers and clients of each other).</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        using var pub = req.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(12));
        return pub.CopyWithPrivateKey(key);
    }

    private string WritePem(string file, X509Certificate2 cert)
    {
        string path = Path.Combine(Dir, file);
        File.WriteAllText(path, cert.ExportCertificatePem() + "\n");
        return path;
    }

    private (string Cert, string Key) WritePemPair(string name, X509Certificate2 cert)
    {
        string certPath = WritePem(name + ".pem", cert);
        string keyPath = Path.Combine(Dir, name + ".key");
        using var key = cert.GetECDsaPrivateKey()!;
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        return (certPath, keyPath);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
