using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace BpfTraceSim.Silo;

/// <summary>Certificates from files and the peer check shared by silos and clients.</summary>
public static class SiloTls
{
    /// <summary>Silo: TLS on the silo port (both directions) and the gateway port.</summary>
    public static ISiloBuilder UseBpfSimTls(this ISiloBuilder silo, SimTlsOptions tls)
    {
        var certificate = LoadCertificate(tls);
        var validator = PeerValidator(LoadAuthorities(tls.CaPath));
        var peers = tls.RequireClientCertificate ? RemoteCertificateMode.RequireCertificate : RemoteCertificateMode.AllowCertificate;
        return silo.UseTls(certificate, o =>
        {
            o.RemoteCertificateMode = peers;
            o.ClientCertificateMode = peers;
            o.RemoteCertificateValidation = validator;
        });
    }

    /// <summary>Client: check the gateway's certificate; present ours when one is configured.</summary>
    public static IClientBuilder UseBpfSimTls(this IClientBuilder client, SimTlsOptions tls)
    {
        var certificate = tls.Enabled ? LoadCertificate(tls) : null;
        var validator = PeerValidator(LoadAuthorities(tls.CaPath));
        return client.UseTls(o =>
        {
            o.LocalCertificate = certificate;
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = certificate is null ? RemoteCertificateMode.NoCertificate : RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateValidation = validator;
        });
    }

    /// <summary>A certificate with its private key from a PKCS#12 or PEM file.</summary>
    public static X509Certificate2 LoadCertificate(SimTlsOptions tls)
    {
        string path = tls.CertificatePath ?? throw new InvalidOperationException("BpfSim:Tls:CertificatePath is not set");
        if (!File.Exists(path)) throw new InvalidOperationException($"BpfSim:Tls:CertificatePath: {path} does not exist");
        X509Certificate2 cert;
        if (!IsPem(path))
        {
            cert = X509CertificateLoader.LoadPkcs12FromFile(path, tls.Password);
        }
        else
        {
            using var pem = string.IsNullOrEmpty(tls.Password)
                ? X509Certificate2.CreateFromPemFile(path, tls.KeyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(path, tls.Password, tls.KeyPath);
            // A PEM key is ephemeral; SslStream wants one that went through PKCS#12 on some platforms.
            cert = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        if (!cert.HasPrivateKey) throw new InvalidOperationException($"BpfSim:Tls: {path} holds no private key (set KeyPath for a PEM key file)");
        return cert;
    }

    /// <summary>The CA certificates of a PEM (or DER) file; null path: none (the system trust store decides).</summary>
    public static X509Certificate2Collection? LoadAuthorities(string? caPath)
    {
        if (string.IsNullOrWhiteSpace(caPath)) return null;
        if (!File.Exists(caPath)) throw new InvalidOperationException($"BpfSim:Tls:CaPath: {caPath} does not exist");
        var roots = new X509Certificate2Collection();
        if (IsPem(caPath)) roots.ImportFromPemFile(caPath);
        else roots.Add(X509CertificateLoader.LoadCertificateFromFile(caPath));
        if (roots.Count == 0) throw new InvalidOperationException($"BpfSim:Tls:CaPath: {caPath} holds no certificate");
        return roots;
    }

    /// <summary>
    /// The peer must chain to one of roots (or, without roots, to the system store). Host names are not checked:
    /// silos are reached by IP address and pods come and go; trust comes from the cluster's own CA.
    /// </summary>
    public static RemoteCertificateValidator PeerValidator(X509Certificate2Collection? roots) => (certificate, chain, errors) =>
    {
        if (roots is null) return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(roots);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // Intermediates the peer sent along.
            foreach (var element in chain.ChainElements)
                if (!element.Certificate.Equals(certificate)) own.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return own.Build(certificate);
    };

    private static bool IsPem(string path)
    {
        Span<byte> head = stackalloc byte[1024];
        using var f = File.OpenRead(path);
        int n = f.Read(head);
        return System.Text.Encoding.ASCII.GetString(head[..n]).Contains("-----BEGIN", StringComparison.Ordinal);
    }
}
