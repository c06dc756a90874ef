namespace Sidep.Parsing.Hl7v2;

/// <summary>Protocol bytes of HL7 v2 and MLLP, in one place.</summary>
public static class Hl7Constants
{
    public const byte CarriageReturn = (byte)'\r';
    public const byte LineFeed = (byte)'\n';
    public const byte DefaultField = (byte)'|';
    public const byte DefaultComponent = (byte)'^';
    public const byte DefaultRepetition = (byte)'~';
    public const byte DefaultEscape = (byte)'\\';
    public const byte DefaultSubComponent = (byte)'&';

    /// <summary>MLLP start block (VT).</summary>
    public const byte MllpStart = 0x0B;
    /// <summary>MLLP end block (FS), followed by <see cref="CarriageReturn"/>.</summary>
    public const byte MllpEnd = 0x1C;

    public static ReadOnlySpan<byte> Msh => "MSH"u8;
    public static ReadOnlySpan<byte> Fhs => "FHS"u8;
    public static ReadOnlySpan<byte> Bhs => "BHS"u8;
    public static ReadOnlySpan<byte> Bts => "BTS"u8;
    public static ReadOnlySpan<byte> Fts => "FTS"u8;
    public static ReadOnlySpan<byte> Pid => "PID"u8;
    public static ReadOnlySpan<byte> Orc => "ORC"u8;
    public static ReadOnlySpan<byte> Obr => "OBR"u8;
    public static ReadOnlySpan<byte> Obx => "OBX"u8;
    public static ReadOnlySpan<byte> Nte => "NTE"u8;
    public static ReadOnlySpan<byte> Spm => "SPM"u8;
}
