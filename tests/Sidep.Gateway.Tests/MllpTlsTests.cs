using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sidep.Gateway.Tests;

public class MllpTlsTests
{
    private static X509Certificate2 SelfSigned(string subject, bool server, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
        }
        DateTimeOffset from = DateTimeOffset.UtcNow.AddDays(-2);
        using X509Certificate2 cert = request.CreateSelfSigned(from, notAfter ?? from.AddDays(30));
        // Through PKCS#12, as a certificate file would be loaded.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    private static string Msa(string ack) => ack.Split('\r')[1];

    [Fact]
    public async Task Over_TLS_the_lab_is_the_one_whose_client_certificate_is_registered()
    {
        using X509Certificate2 serverCert = SelfSigned("CN=localhost", server: true);
        using X509Certificate2 labCert = SelfSigned("CN=Labo Demo 990000001", server: false);
        using X509Certificate2 strangerCert = SelfSigned("CN=Someone else", server: false);
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { MllpCertificate = serverCert });
        // Registered by thumbprint; its source address alone would not be enough.
        server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], [], [labCert.GetCertHashString(HashAlgorithmName.SHA256)]);

        await using (MllpClient lab = await MllpClient.ConnectTlsAsync(server.MllpPort, labCert))
        {
            await lab.SendAsync(ResultMessages.Message("T1"));
            Assert.Equal("MSA|AA|T1", Msa((await lab.ReceiveAsync())!));
        }
        await using (MllpClient stranger = await MllpClient.ConnectTlsAsync(server.MllpPort, strangerCert))
        {
            await stranger.SendAsync(ResultMessages.Message("T2"));
            string refused = (await stranger.ReceiveAsync())!;
            Assert.StartsWith("MSA|AR", Msa(refused));
            Assert.Contains("is not registered for any lab", refused);
        }
    }

    [Fact]
    public async Task Over_TLS_a_connection_without_a_client_certificate_is_not_served()
    {
        using X509Certificate2 serverCert = SelfSigned("CN=localhost", server: true);
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { MllpCertificate = serverCert });
        server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], ["127.0.0.1"]);
        string? answer;
        try
        {
            await using MllpClient anonymous = await MllpClient.ConnectTlsAsync(server.MllpPort, clientCertificate: null);
            await anonymous.SendAsync(ResultMessages.Message("T3"));
            answer = await anonymous.ReceiveAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            answer = null; // the handshake itself was refused
        }
        Assert.True(answer is null || Msa(answer).StartsWith("MSA|AR", StringComparison.Ordinal), answer);
    }

    [Fact]
    public async Task Plain_TCP_to_a_TLS_listener_gets_nothing_and_is_closed()
    {
        using X509Certificate2 serverCert = SelfSigned("CN=localhost", server: true);
        await using SidepTestServer server = await SidepTestServer.StartAsync(o => o with { MllpCertificate = serverCert, MllpFrameTimeout = TimeSpan.FromSeconds(1) });
        server.Labs.AddLab("990000001", "Demo", ["SIDEP-DEMO"], ["127.0.0.1"]);
        await using MllpClient plain = await MllpClient.ConnectAsync(server.MllpPort);
        await plain.SendAsync(ResultMessages.Message("T4"));
        Assert.Null(await plain.ReceiveAsync(TimeSpan.FromSeconds(5)));
    }
}
